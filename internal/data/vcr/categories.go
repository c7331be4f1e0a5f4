package vcr

// Categories are the 81 COCO classes as VCR names them (no spaces), indexed as the
// original category_to_idx: __background__ = 0 (used for the whole-image box).
var Categories = [81]string{
	"__background__", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
	"trafficlight", "firehydrant", "stopsign", "parkingmeter", "bench", "bird", "cat", "dog", "horse",
	"sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie",
	"suitcase", "frisbee", "skis", "snowboard", "sportsball", "kite", "baseballbat", "baseballglove",
	"skateboard", "surfboard", "tennisracket", "bottle", "wineglass", "cup", "fork", "knife", "spoon",
	"bowl", "banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hotdog", "pizza", "donut",
	"cake", "chair", "couch", "pottedplant", "bed", "diningtable", "toilet", "tv", "laptop", "mouse",
	"remote", "keyboard", "cellphone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
	"clock", "vase", "scissors", "teddybear", "hairdrier", "toothbrush",
}

var categoryIndex = func() map[string]int {
	m := make(map[string]int, len(Categories))
	for i, c := range Categories {
		m[c] = i
	}
	return m
}()

// CategoryIndex returns the class index of a VCR object name.
func CategoryIndex(name string) (int, bool) {
	i, ok := categoryIndex[name]
	return i, ok
}

// GenderNeutralNames replace "person" detections, cycled in this order.
var GenderNeutralNames = [13]string{
	"Casey", "Riley", "Jessie", "Jackie", "Avery", "Jaime", "Peyton", "Kerry", "Jody", "Kendall",
	"Frankie", "Pat", "Quinn",
}
