# One-off generator of the refs pickles in refcoco+/ (not run by tests; python3 only):
#   python3 gen_refs.py
# refs(unc).p           pickle protocol 2 as Python 3 writes it (BINUNICODE strings)
# refs_py2_proto2.p     protocol 2 as Python 2 writes str/unicode (SHORT_BINSTRING for
#                       byte strings, BINUNICODE for unicode), hand-assembled below
# refs_proto0.p         protocol 0 as Python 3 writes it (UNICODE 'V' raw-unicode-escape,
#                       INT 'I' lines)
import pickle
import struct


def sent(sid, raw, sent_, tokens):
    return {"sent_id": sid, "raw": raw, "sent": sent_, "tokens": tokens}


REFS = [
    {"sent_ids": [0, 1], "file_name": "COCO_train2014_000000001001_501.jpg", "ann_id": 501, "ref_id": 0,
     "image_id": 1001, "split": "train", "category_id": 1,
     "sentences": [sent(0, "The man on the LEFT", "the man on the left", ["the", "man", "on", "the", "left"]),
                   sent(1, "guy in red, right side", "guy in red right side", ["guy", "in", "red", "right", "side"])]},
    {"sent_ids": [2], "file_name": "x.jpg", "ann_id": 502, "ref_id": 1, "image_id": 1001, "split": "testA",
     "category_id": 1, "sentences": [sent(2, "Café woman \u2013 \"quoted\" \\ back", "cafe woman", ["cafe", "woman"])]},
    {"sent_ids": [3], "file_name": "y.jpg", "ann_id": 503, "ref_id": 2, "image_id": 1002, "split": "val",
     "category_id": 18, "sentences": [sent(3, "dog on right", "dog on right", ["dog", "on", "right"])]},
    {"sent_ids": [4, 5], "file_name": "z.jpg", "ann_id": 504, "ref_id": 3, "image_id": 1002, "split": "testB",
     "category_id": 18, "sentences": [sent(4, "left dog", "left dog", ["left", "dog"]),
                                      sent(5, "small brown dog", "small brown dog", ["small", "brown", "dog"])]},
    {"sent_ids": [6], "file_name": "w.jpg", "ann_id": 501, "ref_id": 4, "image_id": 1001, "split": "train",
     "category_id": 1, "sentences": [sent(6, "man", "man", ["man"])]},
]

with open("refcoco+/refs(unc).p", "wb") as f:
    pickle.dump(REFS, f, protocol=2)
with open("refcoco+/refs_proto0.p", "wb") as f:
    pickle.dump(REFS, f, protocol=0)


# Python 2 protocol 2: str -> SHORT_BINSTRING 'U', unicode -> BINUNICODE 'X', int -> BININT1/BININT2.
class P2:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")
        self.memo = 0

    def put(self):
        self.out += b"q" + bytes([self.memo % 256])
        self.memo += 1

    def obj(self, v):
        if isinstance(v, bool):
            raise TypeError
        if isinstance(v, int):
            self.out += (b"K" + bytes([v])) if v < 256 else (b"M" + struct.pack("<H", v))
        elif isinstance(v, str) and v.isascii():
            b = v.encode()
            self.out += b"U" + bytes([len(b)]) + b
            self.put()
        elif isinstance(v, str):
            b = v.encode("utf-8")
            self.out += b"X" + struct.pack("<I", len(b)) + b
            self.put()
        elif isinstance(v, list):
            self.out += b"]"
            self.put()
            if v:
                self.out += b"("
                for x in v:
                    self.obj(x)
                self.out += b"e"
        elif isinstance(v, dict):
            self.out += b"}"
            self.put()
            if v:
                self.out += b"("
                for k, x in v.items():
                    self.obj(k)
                    self.obj(x)
                self.out += b"u"


p = P2()
p.obj(REFS)
p.out += b"."
assert pickle.loads(bytes(p.out)) == REFS
with open("refcoco+/refs_py2_proto2.p", "wb") as f:
    f.write(bytes(p.out))
