package policy

import (
	"strings"
	"testing"
)

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in      string
		op      Op
		value   float64
		percent bool
		text    string
	}{
		{">= 0.00", OpGE, 0, false, ">= 0"},
		{"<= 180", OpLE, 180, false, "<= 180"},
		{">= -0.01", OpGE, -0.01, false, ">= -0.01"},
		{"<-10%", OpLT, -10, true, "< -10%"},
		{"  <=  -10 % ", OpLE, -10, true, "<= -10%"},
		{"> 1e-3", OpGT, 0.001, false, "> 0.001"},
		{"== 1", OpEQ, 1, false, "== 1"},
		{"!= .5", OpNE, 0.5, false, "!= 0.5"},
		{">+2.", OpGT, 2, false, "> 2"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseThreshold(tt.in)
			if err != nil {
				t.Fatalf("ParseThreshold(%q) error: %v", tt.in, err)
			}
			if got.Op != tt.op || got.Value != tt.value || got.Percent != tt.percent || got.String() != tt.text {
				t.Errorf("ParseThreshold(%q) = %v %v %v %q, want %v %v %v %q", tt.in, got.Op, got.Value, got.Percent, got.String(), tt.op, tt.value, tt.percent, tt.text)
			}
		})
	}
}

func TestParseThresholdErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty threshold"},
		{"0.9", "want OP NUMBER"},
		{"=> 0.9", "want OP NUMBER"},
		{"= 0.9", "want OP NUMBER"},
		{">=", "is not a decimal number"},
		{">= abc", "\"abc\" is not a decimal number"},
		{">= NaN", "\"NaN\" is not a decimal number"},
		{">= inf", "is not a decimal number"},
		{">= 0x10", "is not a decimal number"},
		{">= 1_000", "is not a decimal number"},
		{">= 1e999", "out of range"},
		{">= 1e", "is not a decimal number"},
		{">= 1 2", "is not a decimal number"},
		{">= 5%%", "is not a decimal number"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseThreshold(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseThreshold(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestThresholdHolds(t *testing.T) {
	tests := []struct {
		th   string
		x    float64
		want bool
	}{
		{">= 0", 0, true}, {">= 0", -0.0001, false},
		{"> 0", 0, false}, {"< 5", 4.99, true}, {"< 5", 5, false},
		{"<= 5", 5, true}, {"== 1", 1, true}, {"== 1", 1.0000001, false},
		{"!= 1", 2, true}, {"!= 1", 1, false},
	}
	for _, tt := range tests {
		th, err := ParseThreshold(tt.th)
		if err != nil {
			t.Fatal(err)
		}
		if got := th.Holds(tt.x); got != tt.want {
			t.Errorf("ParseThreshold(%q).Holds(%v) = %v, want %v", tt.th, tt.x, got, tt.want)
		}
	}
}

func TestRoundSig(t *testing.T) {
	tests := []struct{ in, want float64 }{
		{0.905 - 0.91, -0.005},
		{0.87 - 0.88, -0.01},
		{0.3 - 0.1, 0.2},
		{0, 0},
		{123456.7891234567, 123456.789123},
	}
	for _, tt := range tests {
		if got := roundSig(tt.in); got != tt.want {
			t.Errorf("roundSig(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
