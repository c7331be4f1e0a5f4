// Package vqa reads VQA v2 for fine-tuning (vqa/data/datasets/vqa.py): the questions and
// annotations JSON (joined by position, with the ids checked), COCO image sizes,
// the answer vocabulary (answers_vqa.txt) normalised with the official VQA
// evaluation's processPunctuation, and the soft answer targets, which equal the
// VQA accuracy of each answer. Dataset builds data.VQAExample values from the
// precomputed bottom-up features, as the original vqa.py: whole-image box first,
// resize and flip of the boxes, left/right swapped in question and answers of
// flipped samples, question ids without [CLS]/[SEP].
//
// The evaluation helpers (ProcessPunctuation, ProcessDigitArticle, Accuracy)
// follow the official script, including its quirks: at most 32 periods are
// stripped (re.UNICODE passed as the count) and punctuation is deleted or turned
// into a space depending on whether it touches a space anywhere in the answer.
package vqa
