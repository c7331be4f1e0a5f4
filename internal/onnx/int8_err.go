package onnx

import "errors"

var errInt8 = errors.New("onnx: --int8 export is not implemented yet")
