// Package dettrain trains the bottom-up-attention detector (internal/detect)
// end to end, as peteanderson80/bottom-up-attention trained its released
// ResNet-101 model (tools/train_net.py with
// experiments/cfgs/faster_rcnn_end2end_resnet.yml,
// models/vg/ResNet-101/faster_rcnn_end2end_final/train.prototxt and
// solver.prototxt): one image per iteration, Caffe SGD.
//
// What one iteration computes (Net.forwardRPN, sampleTargets,
// lossAndBackward), with the original's values (DefaultConfig):
//
//	data        TRAIN.SCALES 600 / MAX_SIZE 1000, USE_FLIPPED (every image
//	            and its mirror), BGR minus the pixel means (detect.Preprocess)
//	anchors     lib/rpn/anchor_target_layer.py: anchors inside the image,
//	            positive at IoU >= 0.7 (RPN_POSITIVE_OVERLAP) and every gt's
//	            best anchors, negative below 0.3, RPN_BATCHSIZE 64 (the
//	            experiment's value; config.py says 256) at RPN_FG_FRACTION 0.5,
//	            outside weights 1/(sampled anchors)
//	rpn losses  rpn_loss_cls SoftmaxWithLoss over each (bg, fg) pair,
//	            normalize: true; rpn_loss_bbox SmoothL1 with sigma 3, over
//	            positives, divided by the batch's first axis (1)
//	proposals   lib/rpn/proposal_layer.py TRAIN: 12000 before NMS 0.7, 2000
//	            after, RPN_MIN_SIZE 16 (no gradient)
//	roi targets lib/rpn/proposal_target_layer.py: gt boxes appended to the
//	            proposals, BATCH_SIZE 64 RoIs at FG_FRACTION 0.5 (fg IoU >= 0.5,
//	            bg in [0, 0.5)), targets normalised by the precomputed means
//	            (0,0,0,0) and stds (0.1,0.1,0.2,0.2), attribute labels
//	            [32, 16] of the foreground RoIs (ignore −1)
//	head        ROIPooling 14x14 at 1/16 (max with argmax, whose backward sends
//	            each bin's gradient to its maximum), res5, pool5 average,
//	            cls_score / bbox_pred on all 64 RoIs; the attribute branch on
//	            the first 32 (foreground_pool5), cls_embedding of the
//	            ground-truth label concatenated after pool5, fc_attr + ReLU,
//	            attr_score
//	head losses loss_cls SoftmaxWithLoss (mean); loss_bbox SmoothL1 sigma 1
//	            divided by the RoI count; loss_attr the fork's multi-label
//	            SoftmaxWithLoss (per RoI the mean −log p over its attributes,
//	            VALID normalisation over RoIs with one) with loss_weight 0.5
//	frozen      BatchNorm and Scale everywhere (use_global_stats, lr_mult 0);
//	            conv1, res2, res3 and res4a_branch1 (lr_mult 0); res4, res5,
//	            the RPN and the heads train
//	solver      SGD momentum 0.9, weight decay 0.0005, base_lr 0.001, "step"
//	            policy gamma 0.1 every 350000 iterations; biases lr_mult 2
//
// After training, bbox_pred is unnormalised (lib/fast_rcnn/train.py,
// snapshot) and the weights are written in vlbert's detector format
// (importer.WriteVlbert), so internal/detect runs them unchanged;
// TestTrainingForwardIsInferenceForward checks that both forwards agree.
//
// Evaluation (Evaluate) is lib/fast_rcnn/test.py's im_detect and test_net
// (per-class boxes, score > 0.05, NMS 0.3, 100 per image) scored as
// lib/datasets/voc_eval.py does at IoU 0.5.
//
// Departures, all set by the config and named in configs/synth/detector.yaml:
// sizes shrunk for the synthetic world; training from scratch (InitWeights)
// instead of from ImageNet weights, optionally with a linear warm-up
// (SOLVER.WARMUP, 0 in the original); layers to freeze are a config list.
// Gradients are exact for the network as written; Caffe's float32
// summation order is not reproduced.
//
// What it is not: multi-image batches (IMS_PER_BATCH 1 as the original),
// multi-GPU, the relation head (HAS_RELATIONS is False in the experiment).
package dettrain
