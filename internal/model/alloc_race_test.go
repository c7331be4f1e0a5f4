//go:build race

package model

// raceEnabled: the race detector allocates in sync primitives.
const raceEnabled = true
