package vqa

import (
	"encoding/json"
	"fmt"
	"os"
)

// Entry is one question of the database (the original's idb), questions and
// annotations joined by position.
type Entry struct {
	QuestionID int64
	ImageID    int64
	Question   string
	// Answers are the 10 human answers, not normalised; nil in test mode.
	Answers              []string
	MultipleChoiceAnswer string
	QuestionType         string
	AnswerType           string
	// Width and Height of the original image (from the COCO image info), 0 if
	// unknown; the dataset then uses the feature file's image_w/image_h.
	Width, Height int
	// ImageSet names the COCO folder ("train2014", "val2014", "test2015").
	ImageSet string
}

// MaxJSONBytes bounds a questions, annotations or COCO file (VQA v2 train
// annotations are about 330 MB; COCO instances_train2014 about 450 MB).
const MaxJSONBytes = 2 << 30

type questionsFile struct {
	Questions []struct {
		ImageID    int64  `json:"image_id"`
		Question   string `json:"question"`
		QuestionID int64  `json:"question_id"`
	} `json:"questions"`
}

type annotationsFile struct {
	Annotations []struct {
		Answers []struct {
			Answer string `json:"answer"`
		} `json:"answers"`
		MultipleChoiceAnswer string `json:"multiple_choice_answer"`
		QuestionType         string `json:"question_type"`
		AnswerType           string `json:"answer_type"`
		ImageID              int64  `json:"image_id"`
		QuestionID           int64  `json:"question_id"`
	} `json:"annotations"`
}

func readJSON(path string, v any) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("vqa: %w", err)
	}
	if st.Size() > MaxJSONBytes {
		return fmt.Errorf("vqa: %s: %d bytes, over the %d-byte limit", path, st.Size(), MaxJSONBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("vqa: %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("vqa: %s: %w", path, err)
	}
	return nil
}

// ParseQuestions joins the questions and annotations documents by position, as
// the original, but checks that each pair agrees on question_id and image_id and
// that the lists have the same length. annotations nil means test mode.
// qName and aName are used in errors.
func ParseQuestions(qName string, questions []byte, aName string, annotations []byte) ([]Entry, error) {
	var qf questionsFile
	if err := json.Unmarshal(questions, &qf); err != nil {
		return nil, fmt.Errorf("vqa: %s: %w", qName, err)
	}
	if qf.Questions == nil {
		return nil, fmt.Errorf("vqa: %s: no \"questions\" list", qName)
	}
	var af annotationsFile
	if annotations != nil {
		if err := json.Unmarshal(annotations, &af); err != nil {
			return nil, fmt.Errorf("vqa: %s: %w", aName, err)
		}
		if af.Annotations == nil {
			return nil, fmt.Errorf("vqa: %s: no \"annotations\" list", aName)
		}
		if len(af.Annotations) != len(qf.Questions) {
			return nil, fmt.Errorf("vqa: %s has %d questions but %s has %d annotations", qName, len(qf.Questions), aName, len(af.Annotations))
		}
	}
	entries := make([]Entry, len(qf.Questions))
	for i, q := range qf.Questions {
		e := Entry{QuestionID: q.QuestionID, ImageID: q.ImageID, Question: q.Question}
		if annotations != nil {
			a := af.Annotations[i]
			if a.QuestionID != q.QuestionID || a.ImageID != q.ImageID {
				return nil, fmt.Errorf("vqa: record %d: %s has question_id %d image_id %d but %s has question_id %d image_id %d",
					i, qName, q.QuestionID, q.ImageID, aName, a.QuestionID, a.ImageID)
			}
			if len(a.Answers) == 0 {
				return nil, fmt.Errorf("vqa: %s record %d (question_id %d): no answers", aName, i, a.QuestionID)
			}
			e.Answers = make([]string, len(a.Answers))
			for k, ans := range a.Answers {
				e.Answers[k] = ans.Answer
			}
			e.MultipleChoiceAnswer, e.QuestionType, e.AnswerType = a.MultipleChoiceAnswer, a.QuestionType, a.AnswerType
		}
		entries[i] = e
	}
	return entries, nil
}

// LoadQuestions reads a questions file and, unless annPath is empty (test mode),
// its annotations file; see ParseQuestions.
func LoadQuestions(qPath, annPath string) ([]Entry, error) {
	q, err := readFileLimited(qPath)
	if err != nil {
		return nil, err
	}
	var a []byte
	if annPath != "" {
		if a, err = readFileLimited(annPath); err != nil {
			return nil, err
		}
	}
	return ParseQuestions(qPath, q, annPath, a)
}

func readFileLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vqa: %w", err)
	}
	if st.Size() > MaxJSONBytes {
		return nil, fmt.Errorf("vqa: %s: %d bytes, over the %d-byte limit", path, st.Size(), MaxJSONBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vqa: %w", err)
	}
	return data, nil
}

// ImageSize is an image's width and height in pixels.
type ImageSize struct{ Width, Height int }

// LoadCOCOImageSizes reads the "images" list of a COCO instances or image_info
// file into a map from image id to size.
func LoadCOCOImageSizes(path string) (map[int64]ImageSize, error) {
	var f struct {
		Images []struct {
			ID     int64 `json:"id"`
			Width  int   `json:"width"`
			Height int   `json:"height"`
		} `json:"images"`
	}
	if err := readJSON(path, &f); err != nil {
		return nil, err
	}
	out := make(map[int64]ImageSize, len(f.Images))
	for i, im := range f.Images {
		if im.Width <= 0 || im.Height <= 0 {
			return nil, fmt.Errorf("vqa: %s: images[%d] (id %d) has size %dx%d", path, i, im.ID, im.Width, im.Height)
		}
		out[im.ID] = ImageSize{im.Width, im.Height}
	}
	return out, nil
}
