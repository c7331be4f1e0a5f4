// Package infer is vlbert's inference pipeline, shared by the CLI commands (vqa,
// ground, vcr, visualize) and the HTTP server: load a checkpoint once, tokenize
// the text, take one image's regions (a precomputed bottom-up-attention record,
// or an image plus boxes through the ResNet-101 C4 visual path), run the task
// module and return answers with scores, or the attention maps.
//
// Checkpoints: an original PyTorch .model file (legacy or zip torch.save) with
// a YAML config (Options.Config), or vlbert's own safetensors file, which carries
// its config in the metadata key "config" (YAML in the original schema) and,
// for VQA, its answer list in the metadata key "answers" (a JSON array of
// strings, classifier row order). An answer file given in Options.Answers wins
// over both. A path stored in a checkpoint (DATASET.ANSWER_VOCAB_FILE) is never
// opened: without a stored list, Options.Answers is required.
//
// Concurrency: a model.Model owns its activation arenas and is not safe for
// concurrent use, so the pipeline keeps a pool of Options.Workers model replicas
// (default 1). The replicas read one shared, read-only copy of the weights
// (model.NewReplica); each owns only its activation arenas, and none has a
// gradient arena, so a worker costs its activations, not a weight copy (BERT-base
// VQA: ~0.45 GB of weights once). A request takes a replica
// from the pool (waiting until one is free or its context ends) and gives it
// back afterwards. One replica is the right default on small machines: the gemm
// and attention kernels already use every core inside one forward, so a second
// replica would only add contention. More replicas pay
// off on many-core machines, where a single batch-1 forward cannot fill the
// cores. The visual network (ResNet-101, about 170 MB of weights plus large
// activations) exists once, behind its own mutex.
//
// Errors caused by the request (too many tokens or regions, malformed features,
// a sequence longer than max_position_embeddings) wrap ErrInput, so a server can
// answer 4xx; a missing task head wraps ErrUnsupported.
package infer
