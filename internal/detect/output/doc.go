// Package output writes the detector's per-image results in the two formats
// that region-feature readers take, and finds what an interrupted run
// already wrote.
//
//   - vlbert JSON, one file per image (WriteJSON): the keys of the VL-BERT
//     fork's weiyx16/bottom-up-attention tools/generate_tsv_v2.py, which
//     VL-BERT's precomputed readers and vlbert's internal/data/features read:
//     image_id, image_w, image_h, num_boxes, boxes, features, classes, attrs.
//     Arrays are base64 (no line breaks, as base64.b64encode writes) of
//     little-endian float32, row-major: boxes [N, 4] (x1, y1, x2, y2 in
//     original-image pixels), features [N, D] (pool5_flat), classes [N, C]
//     (cls_prob, background first), attrs [N, A] (attr_prob). image_id is a
//     JSON number when it is an integer, else a string. Writes are atomic
//     (internal/atomicfile): a file that exists is complete.
//   - LXMERT obj36 TSV, one row per image (TSVWriter): the columns of
//     LXMERT's FIELDNAMES, img_id, img_h, img_w, objects_id, objects_conf,
//     attrs_id, attrs_conf, num_boxes, boxes, features, each array base64 as
//     LXMERT's load_obj_tsv decodes it with np.frombuffer: objects_id and
//     attrs_id int64, the rest float32. objects_id / objects_conf are the
//     argmax / max of cls_prob over the foreground classes (0-based over the
//     1600 lines of objects_vocab.txt), attrs_id / attrs_conf likewise over
//     attr_prob without "no attribute", as LXMERT's extraction computed them.
//     Rows are appended and flushed (fsync) one at a time; a crash can only
//     leave a partial last line, which OpenTSV drops (and reports) before
//     appending.
//
// Resume: DoneJSON lists the images of a directory whose JSON is present and
// parseable; ScanTSV lists the img_ids of complete rows.
//
// Readers treat files as untrusted: sizes are bounded (MaxJSONBytes,
// MaxTSVLine), errors name the file (and line), malformed input never
// panics.
package output
