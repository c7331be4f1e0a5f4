module github.com/vlbert/vlbert

go 1.26.8

require (
	github.com/ebitengine/purego v0.11.3 // indirect
	github.com/nlpodyssey/gopickle v0.2.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
	golang.org/x/text v0.44.0 // indirect
	gonum.org/v1/gonum v0.17.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
