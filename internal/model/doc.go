// Package model is VL-BERT's network in the llm.c style: one flat parameter arena and
// one gradient arena with named views (the original PyTorch state_dict keys without
// "module."), explicit forward and backward passes, and an activation arena sized from
// the batch shape and reused across steps.
//
// It covers the precomputed-feature visual path of FastRCNN (box geometry embedding and
// obj_downsample), VisualLinguisticBert (embedding with seamless compaction, post-LN
// encoder, pooler) and the task wrappers ResNetVLBERT (VQA, CLASSIFIER_TYPE mlm) and
// ResNetVLBERTForPretraining(Multitask). The heads' layer math lives in package heads.
//
// Shape letters: B batch, Lt text length, Lo object (box) slots, L concatenated sequence
// length (max_b(n_text+n_obj)+1), H hidden, V visual size (== H), NH heads, I intermediate,
// A answers, W vocabulary, R region classes.
//
// Buffers: parameters and gradients live in Model.Params (Data and Grad, same layout).
// Gradients accumulate (+=) across Backward calls until ZeroGrad; every activation and
// output slice returned by a Forward is a view into the model's activation arena and is
// overwritten by the next Forward. A Model is not safe for concurrent use.
package model
