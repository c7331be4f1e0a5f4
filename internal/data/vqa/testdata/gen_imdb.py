# Writes imdb_small.npy, a pythia-style VQA imdb (numpy object array saved with
# allow_pickle, as vqa/data/datasets/vqa.py reads with USE_IMDB): an info dict,
# then questions with numpy and Python integers. Run with /usr/bin/python3
# (numpy) from this directory.
import numpy as np

items = [
    {'create_time': '2019-01-01', 'dataset_name': 'vqa', 'version': 1, 'has_answer': True, 'has_gt_layout': False},
    {'image_name': 'COCO_val2014_000000000042', 'image_id': np.int64(42), 'question_id': 42001,
     'feature_path': 'COCO_val2014_000000000042.npy', 'question_str': 'what is left of the cat?',
     'question_tokens': ['what', 'is', 'left', 'of', 'the', 'cat'], 'answers': ['dog'] * 9 + ['puppy'],
     'valid_answers': ['dog'] * 10},
    {'image_name': 'COCO_val2014_000000000073', 'image_id': 73, 'question_id': np.int32(73002),
     'feature_path': 'COCO_val2014_000000000073.npy', 'question_str': 'how many?',
     'question_tokens': ['how', 'many'], 'answers': ['2', 'two', '2', '2', '3', '2', '2', '2', '2', '2'],
     'valid_answers': ['2'] * 10},
]
np.save('imdb_small.npy', np.array(items, dtype=object), allow_pickle=True)
