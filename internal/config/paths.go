package config

import (
	"path/filepath"
	"strings"
)

// OutputDir is the original's final_output_path (create_logger):
// [modelDir/]OUTPUT_PATH/<config file name without extension>/<TRAIN_IMAGE_SET>_train,
// with TRAIN_IMAGE_SET of the first DATASET entry. modelDir is the
// --model-dir flag ("" for none), which the original prefixes to OUTPUT_PATH.
func (c *Config) OutputDir(modelDir, cfgPath string) string {
	name := strings.TrimSuffix(filepath.Base(cfgPath), filepath.Ext(cfgPath))
	return filepath.Join(modelDir, c.OutputPath, name, c.Dataset().TrainImageSet+"_train")
}

// ModelPrefixPath is OutputDir joined with MODEL_PREFIX; checkpoints are
// <prefix>-<epoch:04d>.model and <prefix>-best.model.
func (c *Config) ModelPrefixPath(modelDir, cfgPath string) string {
	return filepath.Join(c.OutputDir(modelDir, cfgPath), c.ModelPrefix)
}
