package invisible

import "testing"

func TestIs(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    rune
		want bool
	}{
		{"letter", 'a', false},
		{"tab", '\t', false},
		{"line feed", '\n', false},
		{"carriage return", '\r', false},
		{"space", ' ', false},
		{"no-break space", '\u00a0', false},
		{"em space", '\u2003', false},
		{"accented letter", 'ü', false},
		{"CJK", '東', false},
		{"Arabic letter", 'ع', false},
		{"emoji", '🚀', false},
		{"variation selector 16", '\ufe0f', false},
		{"replacement character", '\ufffd', false},
		{"NUL", 0, true},
		{"ESC", 0x1b, true},
		{"DEL", 0x7f, true},
		{"CSI", 0x9b, true},
		{"left-to-right embedding", '\u202a', true},
		{"right-to-left override", '\u202e', true},
		{"left-to-right isolate", '\u2066', true},
		{"pop directional isolate", '\u2069', true},
		{"left-to-right mark", '\u200e', true},
		{"right-to-left mark", '\u200f', true},
		{"Arabic letter mark", '\u061c', true},
		{"zero-width space", '\u200b', true},
		{"zero-width joiner", '\u200d', true},
		{"word joiner", '\u2060', true},
		{"byte order mark", '\ufeff', true},
		{"soft hyphen", '\u00ad', true},
		{"line separator", '\u2028', true},
		{"paragraph separator", '\u2029', true},
		{"tag letter A", '\U000e0041', true},
		{"Hangul filler", '\u3164', true},
		{"combining grapheme joiner", '\u034f', true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := Is(tt.r); got != tt.want {
				t.Errorf("Is(%U) = %v, want %v", tt.r, got, tt.want)
			}
		})
	}
}

// Reveal changes only what would act on or hide in the page: text in any
// script, emoji, tabs and line breaks, and a byte that is not UTF-8 (which
// a browser shows as U+FFFD), pass as they are.
func TestReveal(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"<p>plain</p>", "<p>plain</p>"},
		{"Zürich 東京 ❤️ · → \u2003\ufffd\xff", "Zürich 東京 ❤️ · → \u2003\ufffd\xff"},
		{"a\tb\nc\r\nd", "a\tb\nc\r\nd"},
		{"abc\u202efed", "abc⟨U+202E⟩fed"},
		{"\u2066x\u2069 \u200e\u200f\u061c", "⟨U+2066⟩x⟨U+2069⟩ ⟨U+200E⟩⟨U+200F⟩⟨U+061C⟩"},
		{"pr\u200bod\ufeff", "pr⟨U+200B⟩od⟨U+FEFF⟩"},
		{"esc\x1b[2J tag\U000e0041", "esc⟨U+001B⟩[2J tag⟨U+E0041⟩"},
	} {
		if got := string(Reveal([]byte(tt.in))); got != tt.want {
			t.Errorf("Reveal(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := RevealString(tt.in); got != tt.want {
			t.Errorf("RevealString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRevealStringNoCopy: text with nothing to reveal comes back as it is,
// without an allocation, as every field of a CSV export mostly is.
func TestRevealStringNoCopy(t *testing.T) {
	s := "fraud promoted to prod by alice"
	if n := testing.AllocsPerRun(100, func() { _ = RevealString(s) }); n != 0 {
		t.Errorf("RevealString(%q) allocated %v times, want 0", s, n)
	}
}
