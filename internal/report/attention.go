package report

import (
	"encoding/base64"
	"fmt"
	"html/template"
	"image"
	"io"
	"math"
)

// Block names, in the order of Blocks' result: text→text, text→region,
// region→text, region→region (rows attend to columns).
var BlockNames = [4]string{"text → text", "text → region", "region → text", "region → region"}

// AttentionPage is what the attention viewer shows.
type AttentionPage struct {
	Title string
	Notes []string // lines under the title (checkpoint, input, predictions)

	Layers, Heads, L int
	Probs            []float32 // [Layers, Heads, L, L], row attends to column
	Tokens           []string  // [L]: [CLS] ... [SEP] [IMG] 1..n [END]
	NumText          int       // text positions [0, NumText)
	NumRegions       int       // region positions [NumText, NumText+NumRegions), [IMG] first when ImageBox

	ImageBox       bool
	ImageW, ImageH int
	Boxes          []float32   // [n*4] x1, y1, x2, y2 of the regions 1..n, in image pixels
	BoxLabels      []string    // optional [n]: a name drawn after each box's number (detected class, attribute)
	Image          image.Image // optional; boxes are drawn on a blank canvas without it
}

// Blocks slices the text and region parts out of probs [layers, heads, L, L] and
// min-max rescales each block per layer over all its heads, as the original
// notebook (viz/model_view_vl-bert_coco.ipynb) does. Each result is
// [layers, heads, rows, cols]; a constant block becomes 0. [END] is in no block.
func Blocks(probs []float32, layers, heads, L, nText, nRegions int) (blocks [4][]float32, shapes [4][2]int) {
	if len(probs) != layers*heads*L*L || nText <= 0 || nRegions <= 0 || nText+nRegions > L {
		panic(fmt.Sprintf("report: Blocks of %d values, layers %d heads %d L %d text %d regions %d", len(probs), layers, heads, L, nText, nRegions))
	}
	spans := [2][2]int{{0, nText}, {nText, nText + nRegions}}
	for b := 0; b < 4; b++ {
		rs, cs := spans[b/2], spans[b%2]
		rows, cols := rs[1]-rs[0], cs[1]-cs[0]
		shapes[b] = [2]int{rows, cols}
		out := make([]float32, layers*heads*rows*cols)
		for l := 0; l < layers; l++ {
			lo, hi := float32(math.Inf(1)), float32(math.Inf(-1))
			for h := 0; h < heads; h++ {
				for i := 0; i < rows; i++ {
					src := probs[((l*heads+h)*L+rs[0]+i)*L+cs[0]:]
					dst := out[((l*heads+h)*rows+i)*cols:]
					for j := 0; j < cols; j++ {
						v := src[j]
						dst[j] = v
						lo, hi = min(lo, v), max(hi, v)
					}
				}
			}
			layer := out[l*heads*rows*cols : (l+1)*heads*rows*cols]
			for k, v := range layer {
				if hi > lo {
					layer[k] = (v - lo) / (hi - lo)
				} else {
					layer[k] = 0
				}
			}
		}
		blocks[b] = out
	}
	return blocks, shapes
}

// pageData is what the page's script reads (JSON, escaped by html/template).
type pageData struct {
	Layers, Heads, L, NumText, NumRegions int
	Tokens                                []string
	Blocks                                [4]string // base64 uint8 [layers, heads, rows, cols], rescaled ×255
	Shapes                                [4][2]int
	Raw                                   string // base64 little-endian float32 [layers, heads, L, L]; empty when too big
	Names                                 [4]string
	Boxes                                 [][4]float32
	Labels                                []string
	ImageBox                              bool
	W, H                                  int
}

// maxRawBytes bounds the raw probabilities embedded for the tooltips.
const maxRawBytes = 8 << 20

// WriteAttentionHTML writes the self-contained attention viewer.
func WriteAttentionHTML(w io.Writer, pg *AttentionPage) error {
	if pg.L != len(pg.Tokens) {
		return fmt.Errorf("report: %d tokens for L = %d", len(pg.Tokens), pg.L)
	}
	if len(pg.Boxes)%4 != 0 {
		return fmt.Errorf("report: %d box coordinates", len(pg.Boxes))
	}
	blocks, shapes := Blocks(pg.Probs, pg.Layers, pg.Heads, pg.L, pg.NumText, pg.NumRegions)
	d := pageData{Layers: pg.Layers, Heads: pg.Heads, L: pg.L, NumText: pg.NumText, NumRegions: pg.NumRegions,
		Tokens: pg.Tokens, Shapes: shapes, Names: BlockNames, ImageBox: pg.ImageBox, W: pg.ImageW, H: pg.ImageH, Labels: pg.BoxLabels}
	for b := range blocks {
		q := make([]byte, len(blocks[b]))
		for i, v := range blocks[b] {
			q[i] = uint8(min(max(v, 0), 1)*255 + 0.5)
		}
		d.Blocks[b] = base64.StdEncoding.EncodeToString(q)
	}
	if 4*len(pg.Probs) <= maxRawBytes {
		raw := make([]byte, 4*len(pg.Probs))
		for i, v := range pg.Probs {
			u := math.Float32bits(v)
			raw[4*i], raw[4*i+1], raw[4*i+2], raw[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
		}
		d.Raw = base64.StdEncoding.EncodeToString(raw)
	}
	for i := 0; i+4 <= len(pg.Boxes); i += 4 {
		d.Boxes = append(d.Boxes, [4]float32{pg.Boxes[i], pg.Boxes[i+1], pg.Boxes[i+2], pg.Boxes[i+3]})
	}
	var img template.URL
	if pg.Image != nil {
		uri, err := PNGDataURI(pg.Image)
		if err != nil {
			return err
		}
		img = template.URL(uri)
	}
	return attentionTmpl.Execute(w, struct {
		Title string
		Notes []string
		Data  pageData
		Image template.URL
		W, H  int
	}{pg.Title, pg.Notes, d, img, max(pg.ImageW, 1), max(pg.ImageH, 1)})
}
