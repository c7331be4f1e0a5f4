package demo

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data/synth"
)

// The configs are copies of configs/synth/*.yaml, embedded so that the demo
// runs from any directory; Plan overrides sizes, paths and budgets on top.
//
//go:embed configs/*.yaml
var configFS embed.FS

// Model is the VL-BERT size every phase shares (fine-tuning loads the
// pre-trained encoder, so they must match).
type Model struct {
	Hidden, Layers, Heads, Intermediate int
}

// Phase is the budget of one training phase.
type Phase struct {
	Epochs int
	Batch  int     // TRAIN.BATCH_IMAGES (pretraining: caption rows; text-only rows are TextBatch)
	LR     float64 // TRAIN.LR (per sample: the trainer multiplies by the batch)
	Warmup int     // TRAIN.WARMUP_STEPS
}

// Plan is everything the demo's size depends on.
type Plan struct {
	World    synth.Config
	Model    Model
	TextLen  int // text-only corpus rows (SEQ_LEN)
	TextRows int // text-only rows per pretraining batch

	Pretrain, VQA, Ground, VCR Phase
	Samples                    int  // val scenes shown in the report
	AllScratch                 bool // also grounding and VCR from scratch (VQA from scratch always runs)

	Detector Detector
	// OracleFineTune fine-tunes VQA a second time on the detector's features
	// at the true boxes for the oracle row; otherwise the VQA model trained
	// on detected regions is evaluated on them.
	OracleFineTune bool
}

// Detector is the detector phase's budget (overrides of configs/detector.yaml)
// and the detect phase's box selection.
type Detector struct {
	MaxIter, StepSize, Warmup int // SOLVER.MAX_ITER, STEPSIZE, WARMUP; MaxIter 0: the config's
	Scale                     int // TRAIN and TEST SCALES and MAX_SIZE; 0: the config's
	// MinBoxes and MaxBoxes replace generate_tsv's 10 and 100 (made for
	// COCO's crowded photos): the world's scenes hold 2-3 objects.
	MinBoxes, MaxBoxes int
	// FeatureNorm is the mean L2 norm the written pool5 features are scaled
	// to (one factor for all images, measured on the first train images).
	// VL-BERT's obj_downsample reads [2048-d box geometry ; features]
	// (common/fast_rcnn.py FastRCNN): the geometry's sin/cos have norm 32,
	// and the original's 2048-d bottom-up features are at least as large.
	// This detector's 256-d pool5 comes out at norm ~8, a twentieth of the
	// input's energy, and VL-BERT learns almost only from box positions.
	// VQA from scratch on the same detected regions, 10 epochs: 0.52 as
	// extracted, 0.45 at norm 32, 0.63 at 64, 0.76 at 128, 0.75 at 256.
	// 0: as extracted.
	FeatureNorm float64
}

// FullPlan is the default demo: sized to finish within ten minutes on two
// cores with every task far above its baseline.
//
// Why these numbers (measured on the default world, 2 shared cores; val):
//   - hidden 64, 2 layers, 2 heads: twice as many VQA samples a second as
//     hidden 128 at no less accuracy per sample; VCR and grounding solve the
//     world at this size.
//   - VQA is the slow task (counts and relations take many updates): 10
//     epochs, most of the budget. Each skill alone is learned in a few
//     hundred steps (on the detector's regions from scratch: side of the
//     image 0.85, colour 0.89 in 10 epochs of one type); the mix of six
//     types first settles on the answer priors of each question form and
//     leaves them late, or not within the budget (hand-made features: 0.83
//     to 0.94 from scratch, relation 0.49 or 0.99 depending on the run).
//     After training, 47-57 of obj_downsample's 64 ReLU units are dead on
//     every region (none at initialisation), at LR 5e-5 or 2e-5 alike; the few
//     left carry colour, shape and position together.
//   - Pre-training length decides whether it helps VQA: after 2 epochs the
//     masked words are predicted from language priors alone (caption MLM
//     0.39) and fine-tuned VQA ends at 0.74, below scratch; after 4 epochs
//     colour, shape and existence questions are answered almost perfectly
//     (1.00/1.00/1.00 vs 0.82/1.00/0.90 from scratch) and VQA ends at 0.84.
//   - The longer pre-training slows the short grounding and VCR fine-tunes
//     (3 and 2 epochs: 0.79 and 0.64, from 0.93 and 1.00 after 2 epochs of
//     pre-training): they get 6 and 5 epochs (about 15 s each).
//   - CLASSIFIER_PRETRAINED starts the VQA answer classifier from the
//     answers' word embeddings, as the original VQA config.
func FullPlan() Plan {
	return Plan{
		World:      synth.DefaultConfig(),
		Model:      Model{Hidden: 64, Layers: 2, Heads: 2, Intermediate: 128},
		TextLen:    10,
		TextRows:   2,
		Pretrain:   Phase{Epochs: 4, Batch: 32, LR: 5e-5, Warmup: 30},
		VQA:        Phase{Epochs: 10, Batch: 32, LR: 5e-5, Warmup: 20},
		Ground:     Phase{Epochs: 6, Batch: 32, LR: 5e-5, Warmup: 20},
		VCR:        Phase{Epochs: 5, Batch: 32, LR: 5e-5, Warmup: 20},
		Samples:    6,
		AllScratch: true,
		Detector:   Detector{MinBoxes: 2, MaxBoxes: 6, FeatureNorm: 128},
		// The oracle row evaluates the VQA model on the true boxes' features:
		// fine-tuning VQA again on them took 74 s more, and the whole demo
		// 722 s on 2 cores with light load, at the 12-minute budget.
		OracleFineTune: false,
	}
}

// QuickPlan is --quick: a smaller world and shorter runs, weaker but
// above-baseline results in about a minute.
func QuickPlan() Plan {
	w := synth.DefaultConfig()
	w.TrainScenes, w.ValScenes, w.ImageSize = 400, 60, 64
	return Plan{
		World:    w,
		Model:    Model{Hidden: 64, Layers: 2, Heads: 2, Intermediate: 128},
		TextLen:  10,
		TextRows: 2,
		Pretrain: Phase{Epochs: 2, Batch: 32, LR: 5e-5, Warmup: 10},
		VQA:      Phase{Epochs: 4, Batch: 32, LR: 5e-5, Warmup: 10},
		Ground:   Phase{Epochs: 15, Batch: 32, LR: 5e-5, Warmup: 10},
		VCR:      Phase{Epochs: 10, Batch: 32, LR: 5e-5, Warmup: 10},
		Samples:  4,
		Detector: Detector{MaxIter: 600, StepSize: 500, Warmup: 30, MinBoxes: 2, MaxBoxes: 6, FeatureNorm: 128},
	}
}

// job is one training run: its config name (the output directory and the
// file under DIR/configs), template, overrides and the checkpoint it starts
// from ("" = from scratch).
type job struct {
	name, template string
	sets           []string
	from           string
}

// modelSets are the overrides every config gets.
func (p Plan) modelSets(out string) []string {
	m := p.Model
	return []string{
		"OUTPUT_PATH=" + filepath.Join(out, "runs"), "NUM_WORKERS_PER_GPU=2", "LOG_FREQUENT=10",
		"CHECKPOINT_FREQUENT=1000",
		fmt.Sprintf("NETWORK.VLBERT.hidden_size=%d", m.Hidden), fmt.Sprintf("NETWORK.VLBERT.visual_size=%d", m.Hidden),
		fmt.Sprintf("NETWORK.IMAGE_FINAL_DIM=%d", m.Hidden),
		// The regions are the trained detector's pool5 features.
		fmt.Sprintf("NETWORK.IMAGE_FEAT_DIM=%d", p.detectorFeatureDim()),
		fmt.Sprintf("NETWORK.VLBERT.num_hidden_layers=%d", m.Layers), fmt.Sprintf("NETWORK.VLBERT.num_attention_heads=%d", m.Heads),
		fmt.Sprintf("NETWORK.VLBERT.intermediate_size=%d", m.Intermediate),
		"TRAIN.AUTO_RESUME=false", "TRAIN.FLIP_PROB=0",
		// No dropout: the world is small and clean, and with dropout the
		// short fine-tunes barely leave the answer prior.
		"NETWORK.VLBERT.hidden_dropout_prob=0", "NETWORK.VLBERT.attention_probs_dropout_prob=0",
		// The original starts the regions' visual LayerNorm gamma at 0 (the
		// visual input fades in while BERT's language weights are kept); from
		// scratch the answers then stay at the language prior for hundreds of
		// steps. Regions get their features at full strength from the start;
		// the whole-image feature added to every text token still fades in.
		"NETWORK.VLBERT.visual_scale_object_init=1.0",
	}
}

func phaseSets(ph Phase) []string {
	return []string{
		fmt.Sprintf("TRAIN.END_EPOCH=%d", ph.Epochs), fmt.Sprintf("TRAIN.LR=%g", ph.LR), fmt.Sprintf("TRAIN.WARMUP_STEPS=%d", ph.Warmup),
		fmt.Sprintf("TRAIN.BATCH_IMAGES=%d", ph.Batch), "VAL.BATCH_IMAGES=64", "TEST.BATCH_IMAGES=64",
	}
}

func (p Plan) pretrainJob(out, data string) job {
	corpus := filepath.Join(data, synth.Layout.Corpus)
	sets := append(p.modelSets(out),
		"DATASET.0.DATASET_PATH="+data, "DATASET.1.TRAIN_ANNOTATION_FILE="+corpus,
		"DATASET.1.VAL_ANNOTATION_FILE="+corpus, "DATASET.1.TEST_ANNOTATION_FILE="+corpus,
		fmt.Sprintf("DATASET.1.SEQ_LEN=%d", p.TextLen), fmt.Sprintf("DATASET.1.MIN_SEQ_LEN=%d", p.TextLen),
		// MVRC's targets are the detector's class probabilities.
		fmt.Sprintf("NETWORK.VLBERT.visual_region_classes=%d", detectorClasses()),
		fmt.Sprintf("TRAIN.END_EPOCH=%d", p.Pretrain.Epochs), fmt.Sprintf("TRAIN.LR=%g", p.Pretrain.LR),
		fmt.Sprintf("TRAIN.WARMUP_STEPS=%d", p.Pretrain.Warmup),
		fmt.Sprintf("TRAIN.BATCH_IMAGES=[%d, %d]", p.Pretrain.Batch, p.TextRows),
		fmt.Sprintf("VAL.BATCH_IMAGES=[64, %d]", p.TextRows), fmt.Sprintf("TEST.BATCH_IMAGES=[64, %d]", p.TextRows),
	)
	return job{name: "pretrain", template: "pretrain.yaml", sets: sets}
}

func (p Plan) vqaJob(out, data, from string) job {
	sets := append(p.modelSets(out), phaseSets(p.VQA)...)
	// The answer classifier starts from the answers' word embeddings
	// (CLASSIFIER_PRETRAINED, as the original VQA config); from scratch they
	// are random, so both runs share the config.
	sets = append(sets, "DATASET.DATASET_PATH="+data, "NETWORK.CLASSIFIER_DROPOUT=0", "NETWORK.CLASSIFIER_PRETRAINED=true",
		"DATASET.ANSWER_VOCAB_FILE="+filepath.Join(data, synth.Layout.Answers),
		fmt.Sprintf("DATASET.ANSWER_VOCAB_SIZE=%d", len(synth.AnswerVocab())))
	name := "vqa"
	if from == "" {
		name = "vqa_scratch"
	}
	return job{name: name, template: "vqa.yaml", sets: sets, from: from}
}

func (p Plan) groundJob(out, data, from string) job {
	sets := append(p.modelSets(out), phaseSets(p.Ground)...)
	sets = append(sets, "DATASET.DATASET_PATH="+data, "NETWORK.CLASSIFIER_DROPOUT=0")
	name := "ground"
	if from == "" {
		name = "ground_scratch"
	}
	return job{name: name, template: "ground.yaml", sets: sets, from: from}
}

func (p Plan) vcrJob(out, data, from string) job {
	sets := append(p.modelSets(out), phaseSets(p.VCR)...)
	// The text tokens' visual embedding is the object their grounding tag
	// points to (the only way to tell which "square" a question means): it
	// starts at 0.1, as configs/synth/vcr.yaml explains.
	sets = append(sets, "DATASET.DATASET_PATH="+filepath.Join(data, synth.Layout.VCR), "NETWORK.CLASSIFIER_DROPOUT=0",
		"NETWORK.VLBERT.visual_scale_text_init=0.1")
	name := "vcr"
	if from == "" {
		name = "vcr_scratch"
	}
	return job{name: name, template: "vcr.yaml", sets: sets, from: from}
}

// config builds the job's config and writes it resolved to
// DIR/configs/<name>.yaml, the path train.Run names its output after.
func (j job) config(out string) (*config.Config, string, error) {
	raw, err := configFS.ReadFile("configs/" + j.template)
	if err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	cfg, err := config.Parse(raw, j.template, "")
	if err != nil {
		return nil, "", fmt.Errorf("demo: %s: %w", j.template, err)
	}
	sets := j.sets
	if j.from != "" {
		sets = append(append([]string{}, sets...), "NETWORK.PARTIAL_PRETRAIN="+j.from)
	}
	if err := cfg.SetAll(sets); err != nil {
		return nil, "", fmt.Errorf("demo: %s: %w", j.name, err)
	}
	if j.from != "" {
		// Everything but the word embeddings is loaded (the first matching
		// rule renames them to a key no fine-tuning model has). The tied
		// MLM decoder of a pre-training this short learns language priors
		// before it learns to look: it pulls the words of one kind together
		// (colour words at cosine ~0.9, shapes ~0.93 after 2-3 epochs) and
		// Adam drifts every row of the 30522-word table (rms 0.02 -> 0.12).
		// Fine-tuned from those embeddings, grounding fell from 0.93 to 0.82,
		// VCR from 1.00 to 0.66 and VQA from 0.73 to 0.62 (val, same world
		// and steps); the pre-trained encoder, visual projection and
		// position/type embeddings are kept.
		cfg.Network.PartialPretrainPrefixChanges = append([]string{
			"vlbert.word_embeddings->pretrain_only.word_embeddings",
			"module.vlbert.word_embeddings->pretrain_only.word_embeddings",
		}, cfg.Network.PartialPretrainPrefixChanges...)
	}
	b, err := cfg.Marshal()
	if err != nil {
		return nil, "", fmt.Errorf("demo: %s: %w", j.name, err)
	}
	dir := filepath.Join(out, "configs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(dir, j.name+".yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return nil, "", fmt.Errorf("demo: %w", err)
	}
	return cfg, path, nil
}
