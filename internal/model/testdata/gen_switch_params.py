# Writes switch_params.pth: a partial state dict with the parameters the VLBERT
# switches add, as torch.save stores them (visual_ln false registers 0-d
# visual_scale_* parameters; word_embedding_frozen a [1000, H] table).
# Run with /usr/bin/python3 (torch 1.13) from this directory.
import torch

H = 8
sd = {
    "module.vlbert.visual_scale_text": torch.tensor(0.5),
    "module.vlbert.visual_scale_object": torch.tensor(0.25),
    "module.vlbert.special_word_embeddings.weight": torch.arange(1000 * H, dtype=torch.float32).view(1000, H) / 1000,
    "module.vlbert.visual_1x1_text.weight": torch.full((H, 6), 0.125),
}
torch.save({"state_dict": sd}, "switch_params.pth", _use_new_zipfile_serialization=True)
