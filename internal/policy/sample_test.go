package policy

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseSamples(t *testing.T) {
	// The same sample in every accepted form.
	want := Samples{Features: []Feature{
		{Name: "age", Type: FeatureNumeric, Numbers: []float64{31, 45.5, -2e3}, Missing: 1},
		{Name: "country", Type: FeatureCategorical, Categories: []string{"FR", "DE", "FR"}, Missing: 1},
		{Name: "active", Type: FeatureCategorical, Categories: []string{"true", "false", "true", "true"}},
	}}
	tests := []struct {
		name string
		data string
	}{
		{"s.csv", "age,country,active\n31,FR,true\n45.5,DE,false\n,, true\n-2e3,FR,true\n"},
		{"s.CSV", "\ufeffage , country,active\r\n31,\"FR\",true\r\n45.5,DE,false\r\n\"\",,true\r\n-2e3,FR,true\r\n"},
		{"s.tsv", "age\tcountry\tactive\n31\tFR\ttrue\n45.5\tDE\tfalse\n\t\ttrue\n-2e3\tFR\ttrue\n"},
		{"s.json", `{"age": [31, 45.5, null, -2e3], "country": ["FR", "DE", "", "FR"], "active": [true, false, true, true]}`},
		{"s.json", `[{"age": 31, "country": "FR", "active": true},
		  {"age": 45.5, "country": "DE", "active": false},
		  {"active": true},
		  {"age": -2e3, "country": "FR", "active": "true"}]`},
		// A string that is a number is a number, as in CSV.
		{"s.json", `{"age": ["31", 45.5, null, "-2e3"], "country": ["FR", "DE", null, "FR"], "active": [true, false, true, true]}`},
		// No known extension: the content decides.
		{"sample", "  \n" + `{"age": [31, 45.5, null, -2e3], "country": ["FR", "DE", null, "FR"], "active": [true, false, true, true]}`},
		{"sample.txt", "age,country,active\n31,FR,true\n45.5,DE,false\n,,true\n-2e3,FR,true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.data[:min(len(tt.data), 12)], func(t *testing.T) {
			got, err := ParseSamples(tt.name, []byte(tt.data))
			if err != nil {
				t.Fatalf("ParseSamples(%q) error: %v", tt.name, err)
			}
			want := want
			want.Name = tt.name
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseSamples(%q) (-want +got):\n%s", tt.name, diff)
			}
		})
	}
}

func TestParseSamplesTypes(t *testing.T) {
	tests := []struct {
		name, data string
		want       []Feature
	}{
		{
			name: "one text cell makes a column categorical",
			data: "a\n1\n2\nn/a\n",
			want: []Feature{{Name: "a", Type: FeatureCategorical, Categories: []string{"1", "2", "n/a"}}},
		},
		{
			name: "an all-missing column is numeric without values",
			data: "a,b\n,1\n,2\n",
			want: []Feature{
				{Name: "a", Type: FeatureNumeric, Missing: 2},
				{Name: "b", Type: FeatureNumeric, Numbers: []float64{1, 2}},
			},
		},
		{
			name: "hexadecimal and separators are categories",
			data: "a\n1_0\n0x1p-2\n.5\n+3\n",
			want: []Feature{{Name: "a", Type: FeatureCategorical, Categories: []string{"1_0", "0x1p-2", ".5", "+3"}}},
		},
		{
			name: "decimal forms",
			data: "a\n.5\n+3\n-1E3\n7.\n",
			want: []Feature{{Name: "a", Type: FeatureNumeric, Numbers: []float64{0.5, 3, -1000, 7}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSamples("t.csv", []byte(tt.data))
			if err != nil {
				t.Fatalf("ParseSamples(%q) error: %v", tt.data, err)
			}
			if diff := cmp.Diff(tt.want, got.Features, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseSamples(%q) (-want +got):\n%s", tt.data, diff)
			}
		})
	}
}

func TestParseSamplesErrors(t *testing.T) {
	tests := []struct {
		name, file, data string
		want             SampleError
		msg              string
	}{
		{
			name: "ragged row",
			file: "ref.csv", data: "a,b\n1,2\n3\n",
			want: SampleError{File: "ref.csv", Line: 3},
			msg:  "ref.csv:3: row has 1 fields, the header has 2",
		},
		{
			name: "NaN in a numeric column",
			file: "ref.csv", data: "a,b\n1,2\n3,NaN\n",
			want: SampleError{File: "ref.csv", Line: 3, Column: "b"},
			msg:  `ref.csv:3: column "b": value "NaN" is not a finite number`,
		},
		{
			name: "infinity in a numeric column",
			file: "ref.csv", data: "a\n1\n-Inf\n",
			want: SampleError{File: "ref.csv", Line: 3, Column: "a"},
			msg:  `ref.csv:3: column "a": value "-Inf" is not a finite number`,
		},
		{
			name: "overflow in a numeric column",
			file: "cur.json", data: "{\"a\": [1,\n 1e999]}",
			want: SampleError{File: "cur.json", Line: 2, Column: "a"},
			msg:  `cur.json:2: column "a": value "1e999" is not a finite number`,
		},
		{
			name: "header only",
			file: "ref.csv", data: "a,b\n",
			want: SampleError{File: "ref.csv"},
			msg:  "ref.csv: no rows",
		},
		{
			name: "empty file",
			file: "ref.csv", data: "",
			want: SampleError{File: "ref.csv"},
			msg:  "ref.csv: empty file: no header row",
		},
		{
			name: "duplicate header",
			file: "ref.csv", data: "a,b,a\n1,2,3\n",
			want: SampleError{File: "ref.csv", Line: 1, Column: "a"},
			msg:  `ref.csv:1: column "a": duplicate feature name`,
		},
		{
			name: "empty header",
			file: "ref.csv", data: "a,,c\n1,2,3\n",
			want: SampleError{File: "ref.csv", Line: 1},
			msg:  "ref.csv:1: feature 2 has an empty name",
		},
		{
			name: "bare quote",
			file: "ref.csv", data: "a\n1\n2\"x\n",
			want: SampleError{File: "ref.csv", Line: 3},
			msg:  `ref.csv:3: bare " in non-quoted-field`,
		},
		{
			name: "JSON value is an object",
			file: "cur.json", data: "{\"a\": [1, 2],\n \"b\": [3, {\"c\": 1}]}",
			want: SampleError{File: "cur.json", Line: 2, Column: "b"},
			msg:  `cur.json:2: column "b": value is an object; want a number, string, boolean or null`,
		},
		{
			name: "JSON record value is an array",
			file: "cur.json", data: "[{\"a\": 1},\n{\"a\": [1]}]",
			want: SampleError{File: "cur.json", Line: 2, Column: "a"},
			msg:  `cur.json:2: column "a": value is an array; want a number, string, boolean or null`,
		},
		{
			name: "JSON column is not an array",
			file: "cur.json", data: `{"a": 1}`,
			want: SampleError{File: "cur.json", Line: 1, Column: "a"},
			msg:  `cur.json:1: column "a": want an array of values, found the number 1`,
		},
		{
			name: "JSON record is not an object",
			file: "cur.json", data: "[{\"a\": 1},\n\n 2]",
			want: SampleError{File: "cur.json", Line: 3},
			msg:  `cur.json:3: record 2: want an object, found the number 2`,
		},
		{
			name: "JSON top level",
			file: "cur.json", data: `"a"`,
			want: SampleError{File: "cur.json", Line: 1},
			msg:  `cur.json:1: want an object of columns or an array of records, found the string "a"`,
		},
		{
			name: "JSON no rows",
			file: "cur.json", data: `{"a": [], "b": []}`,
			want: SampleError{File: "cur.json"},
			msg:  `cur.json: no rows`,
		},
		{
			name: "JSON no records",
			file: "cur.json", data: `[]`,
			want: SampleError{File: "cur.json"},
			msg:  `cur.json: no features`,
		},
		{
			name: "JSON duplicate column",
			file: "cur.json", data: "{\"a\": [1],\n\"a\": [2]}",
			want: SampleError{File: "cur.json", Line: 2, Column: "a"},
			msg:  `cur.json:2: column "a": duplicate feature name`,
		},
		{
			name: "JSON duplicate key in a record",
			file: "cur.json", data: `[{"a": 1, "a": 2}]`,
			want: SampleError{File: "cur.json", Line: 1, Column: "a"},
			msg:  `cur.json:1: column "a": record 1: duplicate key`,
		},
		{
			name: "JSON syntax",
			file: "cur.json", data: "{\"a\": [1,\n 2,,]}",
			want: SampleError{File: "cur.json", Line: 2},
			msg:  `cur.json:2: invalid JSON: invalid character ',' looking for beginning of value`,
		},
		{
			name: "JSON truncated",
			file: "cur.json", data: "{\"a\": [1,",
			want: SampleError{File: "cur.json", Line: 1},
			msg:  `cur.json:1: unexpected end of JSON`,
		},
		{
			name: "JSON trailing data",
			file: "cur.json", data: "{\"a\": [1]}\n{}",
			want: SampleError{File: "cur.json", Line: 2},
			msg:  `cur.json:2: unexpected data after the top-level value`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSamples(tt.file, []byte(tt.data))
			var se *SampleError
			if !errors.As(err, &se) {
				t.Fatalf("ParseSamples(%q) error = %v, want a *SampleError", tt.data, err)
			}
			got := SampleError{File: se.File, Line: se.Line, Column: se.Column}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(SampleError{}, "Err")); diff != "" {
				t.Errorf("ParseSamples(%q) error position (-want +got):\n%s", tt.data, diff)
			}
			if err.Error() != tt.msg {
				t.Errorf("ParseSamples(%q) error = %q, want %q", tt.data, err.Error(), tt.msg)
			}
		})
	}
}

func FuzzParseSamples(f *testing.F) {
	seeds := []struct{ name, data string }{
		{"s.csv", "age,country\n31,FR\n,DE\n45.5,\n"},
		{"s.csv", "a,b\n1,2\n3\n"},
		{"s.csv", "a\n1\nNaN\n"},
		{"s.tsv", "a\tb\n1\tx\n"},
		{"s.json", `{"a": [1, null, "x"], "b": [true]}`},
		{"s.json", `[{"a": 1}, {"b": "x"}, {}]`},
		{"s.json", `{"a": [{"b": 1}]}`},
		{"s", `[1, 2]`},
		{"s", "\ufeff{\"a\": [1e999]}"},
		{"s", ""},
	}
	for _, s := range seeds {
		f.Add(s.name, []byte(s.data))
	}
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		s, err := ParseSamples(name, data)
		if err != nil {
			var se *SampleError
			if !errors.As(err, &se) {
				t.Fatalf("ParseSamples error %v is not a *SampleError", err)
			}
			if !strings.HasPrefix(err.Error(), name) {
				t.Fatalf("ParseSamples error %q does not start with the file name %q", err, name)
			}
			return
		}
		if len(s.Features) == 0 {
			t.Fatal("ParseSamples returned no features and no error")
		}
		for _, f := range s.Features {
			if f.Missing < 0 {
				t.Fatalf("feature %q: Missing = %d", f.Name, f.Missing)
			}
			if f.Type == FeatureNumeric && len(f.Categories) > 0 || f.Type == FeatureCategorical && len(f.Numbers) > 0 {
				t.Fatalf("feature %q of type %s has values of the other type", f.Name, f.Type)
			}
			for _, v := range f.Numbers {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("feature %q has the non-finite value %v", f.Name, v)
				}
			}
		}
	})
}
