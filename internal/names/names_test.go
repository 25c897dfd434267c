package names

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestConstants(t *testing.T) {
	t.Parallel()
	require.Equal(t, 10, SuffixLen)
	require.Equal(t, 63, MaxJobNameLen)
	require.Equal(t, 52, MaxWorkerNameLen)
	require.Len(t, alphabet, 27)
}

func TestValidateWorkerName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		worker   string
		valid    bool
		contains string
	}{
		{name: "OneLetter", worker: "a", valid: true},
		{name: "OneDigit", worker: "1", valid: true},
		{name: "Dashes", worker: "resize-image", valid: true},
		{name: "DoubleDash", worker: "resize--image", valid: true},
		{name: "LeadingDigit", worker: "1resize", valid: true},
		{name: "MaxLength", worker: strings.Repeat("a", MaxWorkerNameLen), valid: true},
		{name: "Empty", worker: "", contains: "must not be empty"},
		{name: "UpperCase", worker: "Resize"},
		{name: "Underscore", worker: "resize_image"},
		{name: "LeadingDash", worker: "-resize"},
		{name: "TrailingDash", worker: "resize-"},
		{name: "Dot", worker: "resize.image"},
		{name: "Space", worker: "resize image"},
		{name: "NonASCII", worker: "résumé"},
		{name: "OneTooLong", worker: strings.Repeat("a", MaxWorkerNameLen+1), contains: "no more than 52 characters (53)"},
		{name: "LongerThanALabel", worker: strings.Repeat("a", 64), contains: "no more than 52 characters (64)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msgs := ValidateWorkerName(tt.worker)
			if tt.valid {
				require.Empty(t, msgs)
				// Every Job name generated from it is valid.
				job := Generate(tt.worker, func() uint64 { return 0 })
				require.Empty(t, validation.IsDNS1123Label(job))
				require.Empty(t, validation.IsValidLabelValue(job))
				return
			}
			require.NotEmpty(t, msgs)
			if tt.contains != "" {
				require.Contains(t, strings.Join(msgs, "; "), tt.contains)
			}
		})
	}
}

func TestValidateJobName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		job   string
		valid bool
	}{
		{name: "OneLetter", job: "a", valid: true},
		{name: "Generated", job: "resize-image-bcdf245789", valid: true},
		{name: "MaxLength", job: strings.Repeat("a", MaxJobNameLen), valid: true},
		{name: "Empty", job: ""},
		{name: "TooLong", job: strings.Repeat("a", MaxJobNameLen+1)},
		{name: "UpperCase", job: "Resize-1"},
		{name: "Underscore", job: "resize_1"},
		{name: "LeadingDash", job: "-resize"},
		{name: "TrailingDash", job: "resize-"},
		{name: "Dot", job: "resize.1"},
		{name: "Slash", job: "resize/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msgs := ValidateJobName(tt.job)
			if tt.valid {
				require.Empty(t, msgs)
				require.Empty(t, validation.IsValidLabelValue(tt.job), "a Job name becomes a label value")
				return
			}
			require.NotEmpty(t, msgs)
		})
	}
}

func TestValidateImage(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name     string
		image    string
		valid    bool
		contains string
	}{
		{name: "Name", image: "perl", valid: true},
		{name: "Tag", image: "perl:5.40", valid: true},
		{name: "RegistryPortPathTag", image: "registry.example.com:5000/team/app:v1.2.3", valid: true},
		{name: "Digest", image: "app@" + digest, valid: true},
		{name: "TagAndDigest", image: "registry.example.com/app:v1@" + digest, valid: true},
		{name: "Separators", image: "localhost/a_b__c-d.e", valid: true},
		{name: "UpperCaseRegistry", image: "Registry.Example.com/app", valid: true},
		{name: "UpperCaseTag", image: "app:V1_RC", valid: true},
		{name: "RegistryPortNoTag", image: "registry:5000/app", valid: true},
		{name: "RepositoryMaxLength", image: strings.Repeat("a", 255) + ":v1", valid: true},
		{name: "Empty", image: "", contains: "must not be empty"},
		{name: "LeadingSpace", image: " perl", contains: "whitespace"},
		{name: "TrailingNewline", image: "perl\n", contains: "whitespace"},
		{name: "InnerTab", image: "perl\t:5", contains: "whitespace"},
		{name: "UpperCaseRepository", image: "Perl", contains: "lower-case"},
		{name: "UpperCasePath", image: "registry.example.com/Team/app:v1", contains: "lower-case"},
		{name: "EmptyTag", image: "perl:", contains: "must be a reference"},
		{name: "EmptyPathComponent", image: "a//b", contains: "must be a reference"},
		{name: "ShortDigest", image: "app@sha256:short", contains: "must be a reference"},
		{name: "TrailingSlash", image: "app/", contains: "must be a reference"},
		{name: "LeadingSeparator", image: "_app", contains: "must be a reference"},
		{name: "TagTooLong", image: "app:" + strings.Repeat("t", 129), contains: "must be a reference"},
		{name: "RepositoryTooLong", image: strings.Repeat("a", 300), contains: "no more than 255"},
		{name: "RepositoryTooLongWithTag", image: strings.Repeat("a", 256) + ":v1", contains: "no more than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msgs := ValidateImage(tt.image)
			if tt.valid {
				require.Empty(t, msgs)
				return
			}
			require.Len(t, msgs, 1)
			require.Contains(t, msgs[0], tt.contains)
		})
	}
}

// fixed returns a next function that always returns v and counts its calls.
func fixed(v uint64, calls *int) func() uint64 {
	return func() uint64 {
		*calls++
		return v
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name string
			next uint64
			want string
		}{
			{name: "Zero", next: 0, want: "bbbbbbbbbb"},
			{name: "One", next: 1, want: "cbbbbbbbbb"},
			{name: "LastCharacter", next: 26, want: "9bbbbbbbbb"},
			{name: "SecondDigit", next: 27, want: "bcbbbbbbbb"},
			{name: "AllLast", next: uint64(math.Pow(27, 10)) - 1, want: "9999999999"},
			{name: "Wraps", next: uint64(math.Pow(27, 10)), want: "bbbbbbbbbb"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				calls := 0
				require.Equal(t, "w-"+tt.want, Generate("w", fixed(tt.next, &calls)))
				require.Equal(t, 1, calls, "one number for the whole suffix")
				require.Equal(t, "w-"+tt.want, Generate("w", fixed(tt.next, &calls)))
			})
		}
	})

	t.Run("LengthAndAlphabet", func(t *testing.T) {
		t.Parallel()
		r := rand.New(rand.NewPCG(1, 2))
		seen := make([]map[rune]bool, SuffixLen)
		for i := range seen {
			seen[i] = map[rune]bool{}
		}
		values := []uint64{0, 1, math.MaxUint64, math.MaxUint64 - 1, 1 << 63}
		for range 5000 {
			values = append(values, r.Uint64())
		}
		for _, v := range values {
			calls := 0
			s := strings.TrimPrefix(Generate("w", fixed(v, &calls)), "w-")
			require.Len(t, s, SuffixLen)
			for i, c := range s {
				require.True(t, strings.ContainsRune(alphabet, c), "suffix %q has %q", s, c)
				seen[i][c] = true
			}
			require.Empty(t, validation.IsDNS1123Label(s))
		}
		for i := range seen {
			require.Len(t, seen[i], len(alphabet), "position %d uses the whole alphabet", i)
		}
	})

	t.Run("SameSourceSameSuffixes", func(t *testing.T) {
		t.Parallel()
		a := rand.New(rand.NewPCG(7, 8))
		b := rand.New(rand.NewPCG(7, 8))
		for range 100 {
			require.Equal(t, Generate("w", a.Uint64), Generate("w", b.Uint64))
		}
	})
}

func TestGenerate_Lengths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		worker string
		want   string
	}{
		{name: "Short", worker: "a", want: "a-bbbbbbbbbb"},
		{name: "Longest", worker: strings.Repeat("w", MaxWorkerNameLen), want: strings.Repeat("w", MaxWorkerNameLen) + "-bbbbbbbbbb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Generate(tt.worker, func() uint64 { return 0 })
			require.Equal(t, tt.want, got)
			require.LessOrEqual(t, len(got), MaxJobNameLen)
			require.Empty(t, ValidateJobName(got))
		})
	}
}

// FuzzNames checks that, for every valid worker name, a generated name and
// a name derived from any key are valid Job names (DNS-1123 labels that fit
// a label value), start with the worker's name, and that a key always gives
// the same name.
func FuzzNames(f *testing.F) {
	for _, s := range []struct {
		worker, key string
		seed        uint64
	}{
		{"greet", "order-42", 0}, {"a", "", math.MaxUint64}, {strings.Repeat("w", MaxWorkerNameLen), "é\x00\xff", 1},
		{"resize-image", strings.Repeat("k", 2048), 1 << 63}, {"Bad_Name", "k", 7}, {"", "", 0},
	} {
		f.Add(s.worker, s.key, s.seed)
	}
	f.Fuzz(func(t *testing.T, worker, key string, seed uint64) {
		if len(ValidateWorkerName(worker)) > 0 {
			return // refused before any name is made
		}
		for _, name := range []string{Generate(worker, func() uint64 { return seed }), FromKey(worker, key)} {
			require.Empty(t, ValidateJobName(name), name)
			require.Empty(t, validation.IsValidLabelValue(name), name)
			require.LessOrEqual(t, len(name), MaxJobNameLen)
			require.True(t, strings.HasPrefix(name, worker+"-"), name)
			require.Len(t, name, len(worker)+1+SuffixLen)
		}
		require.Equal(t, FromKey(worker, key), FromKey(worker, key))
		require.Len(t, KeyHash(key), 64)
	})
}

// TestFromKey_Golden pins the names and hashes derived from unique keys.
// Replicas of different releases must derive the same name from a key
// (during a rolling deploy, both enqueue), so any change here breaks
// uniqueness and must fail.
func TestFromKey_Golden(t *testing.T) {
	t.Parallel()
	tests := []struct {
		worker, key, name, hash string
	}{
		{"greet", "order-42", "greet-wwrs6fbsjg", "3bf8b157c4238eefe5ae4a66eca81c6b887d4dcedb58dd674271859f4dc2edfd"},
		{"resize-image", "order-42", "resize-image-wpw9k56g2q", "3bf8b157c4238eefe5ae4a66eca81c6b887d4dcedb58dd674271859f4dc2edfd"},
		{"greet", "order-43", "greet-r49tkfgwn7", "7cb94acade5a102a33b58fe6f51ea4c491677743164b29ff2cbd8c62bf2335ac"},
		{"greet", "", "greet-cd4ndgm2x9", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"greet", "ключ/🔑", "greet-rgvgpjrcbs", "9fab295ba5ffc6f87edcd18eb5fa7fb0bdbc850d6bc5d4295ef23c617370fbc0"},
	}
	for _, tt := range tests {
		require.Equal(t, tt.name, FromKey(tt.worker, tt.key), "FromKey(%q, %q)", tt.worker, tt.key)
		require.Equal(t, tt.hash, KeyHash(tt.key), "KeyHash(%q)", tt.key)
	}
}
