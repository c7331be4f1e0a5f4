package refcoco

import (
	"context"
	"fmt"
	"strings"

	"github.com/vlbert/vlbert/internal/config"
	"github.com/vlbert/vlbert/internal/data"
	"github.com/vlbert/vlbert/internal/data/features"
	"github.com/vlbert/vlbert/internal/data/zipfs"
)

// Check checks the refs, instances, proposals and images of cfg's split
// c.Mode and reports the candidates per expression as training builds them
// ("vlbert data check"). With NETWORK.IMAGE_FEAT_PRECOMPUTED true it checks
// the precomputed feature files instead (Files.Features: their detections are
// the proposals, refcoco+/instances.json serves as refer's and COCO's).
// required says whether the trainer's loader must read the data (it reads
// RefCOCO+ with precomputed features, and every ref was good).
func Check(ctx context.Context, c *data.Check, cfg *config.Config) (required bool, err error) {
	tok, fs := c.Tok, c.FS
	ds := cfg.Dataset()
	precomputed := cfg.Network.ImageFeatPrecomputed
	sp, err := cfg.Split(ds, c.Mode)
	if err != nil {
		return false, err
	}
	set := sp.ImageSet
	boxSrc, err := ParseBoxSource(sp.Boxes)
	if err != nil {
		return false, err
	}
	testMode := c.Mode == "test"
	// refer.py: DATASET_PATH/refcoco+/refs(unc).p and instances.json; the
	// COCO train2014 instances give image sizes and GT candidates (with
	// precomputed features refer's instances serve for both).
	files := FromConfig(cfg)
	refsPath, referPath := files.Refs, files.Instances
	refs, err := ReadRefs(refsPath)
	if err != nil {
		return false, err
	}
	refer, err := ReadInstances(referPath)
	if err != nil {
		return false, err
	}
	coco, cocoPath := refer, referPath
	if !precomputed {
		cocoPath = files.COCO
		if coco, err = ReadInstances(cocoPath); err != nil {
			return false, err
		}
	}
	var props Proposals
	if !precomputed && boxSrc != BoxesGT {
		if props, err = ReadProposals(files.Proposals); err != nil {
			return false, err
		}
	}

	// Refs and sentences per split, in order of appearance.
	var splits []string
	perSplit := map[string][2]int{}
	for _, r := range refs {
		if _, ok := perSplit[r.Split]; !ok {
			splits = append(splits, r.Split)
		}
		v := perSplit[r.Split]
		perSplit[r.Split] = [2]int{v[0] + 1, v[1] + len(r.Sentences)}
	}
	var parts []string
	for _, s := range splits {
		parts = append(parts, fmt.Sprintf("%s %d refs (%d sentences)", s, perSplit[s][0], perSplit[s][1]))
	}
	fmt.Fprintf(c.Out, "refcoco+ %s: %d refs: %s\n", refsPath, len(refs), strings.Join(parts, ", "))

	// Refs whose image or object is missing are problems; the rest make the
	// database, exactly as the trainer builds it.
	byID := make(map[int64]*Ref, len(refs))
	for i := range refs {
		byID[refs[i].RefID] = &refs[i] // the last of a duplicated id, as refer.py's dict
	}
	var good []Ref
	nrefs := 0
	seen := map[int64]bool{}
	for _, s := range strings.Split(set, "+") {
		ids, err := RefIDsForSplit(refs, strings.TrimSpace(s))
		if err != nil {
			return false, err
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			nrefs++
			r := byID[id]
			ok := true
			if _, in := coco.Images[r.ImageID]; !in {
				c.Problem("%s: ref_id %d: image %d is not in %s", refsPath, r.RefID, r.ImageID, cocoPath)
				ok = false
			}
			if _, in := refer.Annotation(r.AnnID); !in && !testMode {
				c.Problem("%s: ref_id %d: ann_id %d is not in %s", refsPath, r.RefID, r.AnnID, referPath)
				ok = false
			}
			if len(r.Sentences) == 0 {
				c.Warn("%s: ref_id %d has no sentences", refsPath, r.RefID)
			}
			if ok {
				good = append(good, *r)
			}
		}
	}
	samples, err := Database(good, set, refer, coco, testMode)
	if err != nil {
		return false, err
	}
	n := c.Limit(len(samples))
	fmt.Fprintf(c.Out, "refcoco+ %s (%s): %d expressions of %d refs; checking %d\n", c.Mode, set, len(samples), nrefs, n)

	var exprLen, cands, gtPerImage, propPerImage, pos data.Stat
	var cov data.Coverage
	noPos := 0
	type cand struct {
		boxes []float32 // [k, 4]
		err   error
	}
	perImage := map[int64]cand{}
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		s := &samples[i]
		rec := fmt.Sprintf("%s: ref_id %d sent_id %d", refsPath, s.RefID, s.SentID)
		pieces, _, err := Expression(tok, s.Tokens, false)
		if err != nil {
			c.Problem("%s: %v", rec, err)
		} else {
			exprLen.Add(len(pieces))
			cov.Tokens(pieces)
			if len(pieces) == 0 {
				c.Warn("%s: empty expression", rec)
			}
		}
		cd, done := perImage[s.ImageID]
		if !done {
			var nprop int
			cd.boxes, nprop, cd.err = candidates(fs, cfg, s, boxSrc, coco, props)
			perImage[s.ImageID] = cd
			if cd.err == nil {
				cands.Add(len(cd.boxes) / 4)
				gtPerImage.Add(len(coco.ImageAnnotations(s.ImageID)))
				if nprop >= 0 {
					propPerImage.Add(nprop)
				}
			}
		}
		if cd.err != nil {
			c.Problem("%s (image %d): %v", rec, s.ImageID, cd.err)
			continue
		}
		if testMode && s.GTBox == ([4]float64{}) {
			continue
		}
		gt := [4]float32{float32(s.GTBox[0]), float32(s.GTBox[1]), float32(s.GTBox[2]), float32(s.GTBox[3])}
		k := 0
		for j := 0; j+4 <= len(cd.boxes); j += 4 {
			if IoU([4]float32(cd.boxes[j:j+4]), gt) > 0.5 {
				k++
			}
		}
		pos.Add(k)
		if k == 0 {
			noPos++
		}
	}
	imgBox := ""
	if ds.AddImageAsABox {
		imgBox = ", image box included"
	}
	fmt.Fprintf(c.Out, "refcoco+ %s: candidate boxes per image (%s%s): %v over %d images\n", c.Mode, sp.Boxes, imgBox, cands, len(perImage))
	prop := "not used"
	if propPerImage.N > 0 {
		prop = propPerImage.String()
	}
	fmt.Fprintf(c.Out, "refcoco+ %s: gt boxes per image: %v; proposals per image: %s\n", c.Mode, gtPerImage, prop)
	fmt.Fprintf(c.Out, "refcoco+ %s: expression wordpieces: %v; vocabulary: %v\n", c.Mode, exprLen, cov)
	fmt.Fprintf(c.Out, "refcoco+ %s: positive candidates (IoU > 0.5 with the referred box) per expression: %v; %d expressions have none\n", c.Mode, pos, noPos)
	if noPos > 0 {
		c.Warn("%d of %d expressions have no candidate with IoU > 0.5 (all-zero labels; they cap the accuracy)", noPos, pos.N)
	}
	// The loader run is required with precomputed features (the data set
	// this check cannot otherwise reach); e2e it is a further check.
	return precomputed && len(good) == nrefs, nil
}

// candidates returns the candidate boxes of s as [k, 4] x1, y1, x2, y2 in
// original pixels (image box first when configured) and the number of
// proposals of its image (-1 when src does not use them), and checks the files
// training reads for its image: the precomputed feature file (its detections
// are the proposals) with precomputed features, else the COCO image.
func candidates(fs *zipfs.FS, cfg *config.Config, s *Sample, src BoxSource, coco *Instances, props Proposals) ([]float32, int, error) {
	ds := cfg.Dataset()
	nprop := -1
	if cfg.Network.ImageFeatPrecomputed {
		path := FromConfig(cfg).Features(s.ImageID)
		rec, err := features.LoadJSON(fs, path, features.Options{Features: true}.WithFeatureDim())
		if err != nil {
			return nil, 0, err
		}
		if err := features.CheckFeatureDim(path, rec, cfg.Network.ImageFeatDim); err != nil {
			return nil, 0, err
		}
		var boxes []float32
		if ds.AddImageAsABox {
			boxes = append(boxes, 0, 0, float32(s.Width-1), float32(s.Height-1))
		}
		if src != BoxesGT {
			boxes = append(boxes, rec.Boxes...)
			nprop = rec.NumBoxes
		}
		if src != BoxesProposal {
			gt, err := Candidates(s, BoxesGT, coco, nil, false)
			if err != nil {
				return nil, 0, err
			}
			boxes = append(boxes, gt...)
		}
		return boxes, nprop, nil
	}
	if err := data.CheckImage(fs, FromConfig(cfg).Image(s.ImageID)); err != nil {
		return nil, 0, err
	}
	boxes, err := Candidates(s, src, coco, props, ds.AddImageAsABox)
	if src != BoxesGT {
		nprop = len(props[s.ImageID])
	}
	return boxes, nprop, err
}
