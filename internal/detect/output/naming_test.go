package output

import "testing"

func TestImageName(t *testing.T) {
	for path, want := range map[string][2]string{
		"/data/COCO_val2014_000000000042.jpg": {"COCO_val2014_000000000042", "42"},
		"9.png":                               {"9", "9"},
		"img/dog.jpeg":                        {"dog", "dog"},
		"a.b.c7.jpg":                          {"a.b.c7", "7"},
		"99999999999999999999999.jpg":         {"99999999999999999999999", "99999999999999999999999"},
		"0000.jpg":                            {"0000", "0"},
	} {
		if s, id := ImageName(path); s != want[0] || id != want[1] {
			t.Errorf("%s: %q %q, want %q", path, s, id, want)
		}
	}
}
