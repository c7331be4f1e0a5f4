// Package model is VL-BERT's network in the llm.c style: one flat parameter arena and
// one gradient arena with named views (the original PyTorch state_dict keys without
// "module."), explicit forward and backward passes, and an activation arena sized from
// the batch shape and reused across steps.
//
// It covers the visual path of FastRCNN after the CNN (box geometry embedding and
// obj_downsample, fed with precomputed bottom-up features or with RoI-head features
// from package visual), VisualLinguisticBert (embedding with seamless compaction,
// post-LN encoder, pooler) and the task wrappers: ResNetVLBERT for VQA (CLASSIFIER_TYPE
// mlm), ResNetVLBERTForPretraining(Multitask), and the RefCOCO+ and VCR modules. The
// heads' layer math lives in package heads.
//
// A training step:
//
//	m, _ := model.New(cfg)                  // or model.FromConfig(yamlConfig)
//	_ = m.LoadCheckpoint(path)              // or m.InitWeights(seed)
//	m.Train, m.Seed = true, runSeed
//	for step := ... {
//		m.Step = uint64(step)               // dropout masks are a function of (Seed, Step, site)
//		m.ZeroGrad()                        // or once per accumulation window
//		out, err := m.ForwardVQA(batch)     // ForwardPretrain, ForwardRefCOCO, ForwardVCR
//		m.BackwardVQA(1 / float32(accum))   // d(total loss); gradients accumulate
//		optimizer.Step(m.Params.Data, m.Params.Grad)   // one flat slice each
//	}
//
// Params.List gives each tensor's name, shape and offset in the original module's
// named_parameters() order (the index order of the original optimizer state); the tied
// MLM decoder is an Alias of the word embeddings, not a separate tensor.
//
// Shape letters: B batch, Lt text length, Lo object (box) slots, L concatenated sequence
// length (max_b(n_text+n_obj)+1), H hidden, V visual size (== H), NH heads, I intermediate,
// A answers, W vocabulary, R region classes.
//
// Buffers: gradients accumulate (+=) across Backward calls until ZeroGrad; every
// activation and output slice returned by a Forward is a view into the model's
// activation arena and is overwritten by the next Forward. After the batch shape stops
// growing, Forward and Backward allocate nothing themselves. A Model is not safe for
// concurrent use.
package model
