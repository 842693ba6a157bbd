package main

import (
	"io"
	"testing"
)

// TestTrainingFlag: training mode has one name, --training
// ($CQRS_TRAINING), and its first name --demo ($CQRS_DEMO) still works.
func TestTrainingFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"off by default", nil, nil, false},
		{"--training", []string{"--training"}, nil, true},
		{"$CQRS_TRAINING", nil, map[string]string{"CQRS_TRAINING": "true"}, true},
		{"--demo, its first name", []string{"--demo"}, nil, true},
		{"$CQRS_DEMO", nil, map[string]string{"CQRS_DEMO": "1"}, true},
		{"--training=false", []string{"--training=false"}, map[string]string{"CQRS_TRAINING": "true"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(append([]string{"cqrs-signin"}, tc.args...), func(k string) string { return tc.env[k] }, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if o.training != tc.want {
				t.Errorf("training = %v, want %v", o.training, tc.want)
			}
		})
	}
}
