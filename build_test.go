package kubequeue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/kubequeue/kubequeue"
)

// jsWorkerNameOfLen returns a valid worker name of n characters: letters and
// digits, with a '-' now and then but never first or last.
func jsWorkerNameOfLen(n int) string {
	b := make([]byte, n)
	for i := range b {
		switch {
		case i%7 == 3 && i != n-1:
			b[i] = '-'
		case i%2 == 0:
			b[i] = 'a'
		default:
			b[i] = '0' + byte(i%10)
		}
	}
	return string(b)
}

func TestQueue_Build_GeneratedNames(t *testing.T) {
	t.Parallel()

	t.Run("EveryLength", func(t *testing.T) {
		t.Parallel()
		require.Equal(t, 52, kubequeue.MaxWorkerNameLen)
		q := buildQueue(t)
		for n := 1; n <= kubequeue.MaxWorkerNameLen; n++ {
			worker := jsWorkerNameOfLen(n)
			require.Len(t, worker, n)
			w := kubequeue.NewWorker(worker, performResize, kubequeue.WithImage(testImage))
			require.NoError(t, w.Validate(), "worker name %q", worker)
			for range 40 {
				job, err := q.Build(w, resizeArgs{})
				require.NoError(t, err)
				name := job.Name
				require.Empty(t, validation.IsDNS1123Label(name), "job name %q", name)
				require.Empty(t, validation.IsValidLabelValue(name), "job name %q", name)
				require.LessOrEqual(t, len(name), 63, "job name %q", name)
				require.True(t, strings.HasPrefix(name, worker+"-"), "job name %q", name)
				require.Len(t, name, n+1+10, "job name %q: a 10-character suffix", name)
				require.Equal(t, worker, job.Labels[kubequeue.LabelWorker])
				require.Equal(t, worker, job.Spec.Template.Labels[kubequeue.LabelWorker])
			}
		}
	})

	t.Run("TooLong", func(t *testing.T) {
		t.Parallel()
		worker := jsWorkerNameOfLen(kubequeue.MaxWorkerNameLen + 1)
		require.Empty(t, validation.IsDNS1123Label(worker), "only the length is wrong")
		w := kubequeue.NewWorker(worker, performResize, kubequeue.WithImage(testImage))
		err := w.Validate()
		require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
		require.ErrorContains(t, err, fmt.Sprint(kubequeue.MaxWorkerNameLen))
		var ve *kubequeue.ValidationError
		require.ErrorAs(t, err, &ve)
		require.Equal(t, "name", ve.Field)
		require.Equal(t, worker, ve.Value)

		job, buildErr := buildQueue(t).Build(w, resizeArgs{})
		require.Nil(t, job)
		require.Equal(t, err, buildErr)
	})

	t.Run("Invalid", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			worker string
		}{
			{name: "Empty", worker: ""},
			{name: "UpperCase", worker: "Resize"},
			{name: "Underscore", worker: "resize_image"},
			{name: "LeadingDash", worker: "-resize"},
			{name: "TrailingDash", worker: "resize-"},
			{name: "OnlyDash", worker: "-"},
			{name: "Dot", worker: "resize.image"},
			{name: "Space", worker: "resize image"},
			{name: "NonASCII", worker: "résumé"},
			{name: "LongerThanALabel", worker: strings.Repeat("a", 64)},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var w *kubequeue.Worker[resizeArgs]
				require.NotPanics(t, func() { w = kubequeue.NewWorker(tt.worker, performResize, kubequeue.WithImage(testImage)) })
				err := w.Validate()
				require.ErrorIs(t, err, kubequeue.ErrInvalidWorker)
				errs := validationErrors(err)
				require.NotEmpty(t, errs)
				for _, ve := range errs {
					require.Equal(t, "name", ve.Field)
					require.Equal(t, tt.worker, ve.Value)
				}
				job, buildErr := buildQueue(t).Build(w, resizeArgs{})
				require.Nil(t, job)
				require.ErrorIs(t, buildErr, kubequeue.ErrInvalidWorker)
			})
		}
	})

	t.Run("RandSourceReproducible", func(t *testing.T) {
		t.Parallel()
		w := resizeWorker(t)
		names := func(q *kubequeue.Queue) []string {
			out := make([]string, 50)
			for i := range out {
				job, err := q.Build(w, resizeArgs{})
				require.NoError(t, err)
				out[i] = job.Name
			}
			return out
		}
		first := names(buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(1, 2))))
		second := names(buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(1, 2))))
		other := names(buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(3, 4))))
		require.Equal(t, first, second)
		require.NotEqual(t, first, other)
		seen := map[string]bool{}
		for _, n := range first {
			seen[n] = true
		}
		require.Len(t, seen, len(first), "a seeded source still gives distinct names")
	})

	t.Run("RandSourceConcurrent", func(t *testing.T) {
		t.Parallel()
		w := resizeWorker(t)
		q := buildQueue(t, kubequeue.WithRandSource(rand.NewPCG(5, 6)))
		var (
			mu   sync.Mutex
			seen = map[string]bool{}
			wg   sync.WaitGroup
		)
		for range 8 {
			wg.Go(func() {
				for range 100 {
					job, err := q.Build(w, resizeArgs{})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[job.Name] = true
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		require.Len(t, seen, 800)
	})

	t.Run("NoDuplicates", func(t *testing.T) {
		t.Parallel()
		w := resizeWorker(t)
		q := buildQueue(t)
		seen := make(map[string]bool, 10000)
		for range 10000 {
			job, err := q.Build(w, resizeArgs{})
			require.NoError(t, err)
			require.False(t, seen[job.Name], "duplicate name %q", job.Name)
			seen[job.Name] = true
		}
	})
}

// Payload types for TestQueue_Build_Payload.
type (
	jsChanPayload struct {
		Name string
		C    chan int
	}
	jsFuncPayload struct{ F func() }
	jsNode        struct{ Next *jsNode }
	jsBadMarshal  struct{}
)

func (jsBadMarshal) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot marshal") }

func TestQueue_Build_Payload(t *testing.T) {
	t.Parallel()

	t.Run("WrongType", func(t *testing.T) {
		t.Parallel()
		w := resizeWorker(t)
		tests := []struct {
			name    string
			payload any
			got     string
		}{
			{name: "Pointer", payload: &resizeArgs{ID: 1}, got: "*kubequeue_test.resizeArgs"},
			{name: "OtherStruct", payload: otherArgs{ID: 1}, got: "kubequeue_test.otherArgs"},
			{name: "Nil", payload: nil, got: "<nil>"},
			{name: "Int", payload: 1, got: "int"},
			{name: "Map", payload: map[string]any{"id": 1}, got: "map[string]interface {}"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				job, err := buildQueue(t).Build(w, tt.payload)
				require.Nil(t, job)
				require.ErrorIs(t, err, kubequeue.ErrPayloadType)
				require.NotErrorIs(t, err, kubequeue.ErrInvalidWorker)
				require.ErrorContains(t, err, "kubequeue_test.resizeArgs")
				require.ErrorContains(t, err, tt.got)
				require.ErrorContains(t, err, resizeName)

				client := fake.NewClientset()
				_, enqueueErr := newQueue(t, client).Enqueue(t.Context(), w, tt.payload)
				require.Equal(t, err, enqueueErr)
				requireNoAPICall(t, client)
			})
		}
	})

	t.Run("PointerWorker", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(resizeName, func(context.Context, *resizeArgs) error { return nil }, kubequeue.WithImage(testImage))
		_, err := buildQueue(t).Build(w, resizeArgs{ID: 1})
		require.ErrorIs(t, err, kubequeue.ErrPayloadType)
		require.ErrorContains(t, err, "*kubequeue_test.resizeArgs")
		job := build(t, w, &resizeArgs{ID: 1})
		require.Equal(t, `{"id":1}`, envOf(t, job, "KUBEQUEUE_PAYLOAD"))
	})

	t.Run("Size", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(resizeName, func(context.Context, string) error { return nil }, kubequeue.WithImage(testImage))
		// A string of n plain characters encodes as n+2 bytes.
		inEnv := strings.Repeat("x", kubequeue.MaxEnvPayloadSize-2)
		job, err := buildQueue(t).Build(w, inEnv)
		require.NoError(t, err)
		require.Len(t, envOf(t, job, "KUBEQUEUE_PAYLOAD"), kubequeue.MaxEnvPayloadSize)
		require.Nil(t, job.Spec.Suspend)

		// One byte more travels in a Secret.
		job, err = buildQueue(t).Build(w, inEnv+"x")
		require.NoError(t, err)
		require.Equal(t, "/var/run/kubequeue/payload/payload.json", envOf(t, job, "KUBEQUEUE_PAYLOAD_FILE"))
		require.True(t, *job.Spec.Suspend, "created suspended until its Secret exists")

		fits := strings.Repeat("x", kubequeue.MaxPayloadSize-2)
		_, err = buildQueue(t).Build(w, fits)
		require.NoError(t, err)
		job, err = buildQueue(t).Build(w, fits+"x")
		require.Nil(t, job)
		require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)
		require.ErrorContains(t, err, fmt.Sprint(kubequeue.MaxPayloadSize))
		require.ErrorContains(t, err, fmt.Sprint(kubequeue.MaxPayloadSize+1))

		// Escaping counts: a quote encodes as two bytes.
		quotes := strings.Repeat(`"`, (kubequeue.MaxPayloadSize-2)/2)
		_, err = buildQueue(t).Build(w, quotes)
		require.NoError(t, err)
		_, err = buildQueue(t).Build(w, quotes+`"`)
		require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)

		client := fake.NewClientset()
		_, err = newQueue(t, client).Enqueue(t.Context(), w, fits+"x")
		require.ErrorIs(t, err, kubequeue.ErrPayloadTooLarge)
		requireNoAPICall(t, client)
	})

	t.Run("Unencodable", func(t *testing.T) {
		t.Parallel()
		cycle := &jsNode{}
		cycle.Next = cycle
		tests := []struct {
			name  string
			build func() (*batchv1.Job, error)
		}{
			{name: "ChanField", build: jsBuildFunc(jsChanPayload{Name: "x", C: make(chan int)})},
			{name: "NilChanField", build: jsBuildFunc(jsChanPayload{Name: "x"})},
			{name: "FuncField", build: jsBuildFunc(jsFuncPayload{F: func() {}})},
			{name: "NaN", build: jsBuildFunc(math.NaN())},
			{name: "PositiveInfinity", build: jsBuildFunc(math.Inf(1))},
			{name: "NaNInSlice", build: jsBuildFunc([]float64{1, math.NaN()})},
			{name: "NegativeInfinityFloat32", build: jsBuildFunc(float32(math.Inf(-1)))},
			{name: "Cycle", build: jsBuildFunc(cycle)},
			{name: "MarshalerError", build: jsBuildFunc(jsBadMarshal{})},
			{name: "Complex", build: jsBuildFunc(complex(1, 2))},
			{name: "InvalidUTF8", build: jsBuildFunc("caf\xe9")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				var (
					job *batchv1.Job
					err error
				)
				require.NotPanics(t, func() { job, err = tt.build() })
				require.Nil(t, job)
				require.Error(t, err)
				require.ErrorIs(t, err, kubequeue.ErrPayloadEncode)
				require.NotErrorIs(t, err, kubequeue.ErrPayloadType)
			})
		}
	})
}

// TestQueue_Build_NilPayloadForInterfaceWorker checks that nil is a payload
// of a worker whose payload type is an interface.
func TestQueue_Build_NilPayloadForInterfaceWorker(t *testing.T) {
	t.Parallel()
	var (
		got    any = "not called"
		called bool
	)
	w := kubequeue.NewWorker("any-payload", func(_ context.Context, p any) error {
		got, called = p, true
		return nil
	}, kubequeue.WithImage(testImage))
	job, err := buildQueue(t).Build(w, nil)
	require.NoError(t, err, "nil is a value of type any")
	require.Equal(t, "null", envOf(t, job, "KUBEQUEUE_PAYLOAD"))
	_, err = kubequeue.PerformJob(t.Context(), job, w)
	require.NoError(t, err)
	require.True(t, called)
	require.Nil(t, got)
}

// jsBuildFunc returns a function that builds a Job for payload with a worker
// of payload's type.
func jsBuildFunc[T any](payload T) func() (*batchv1.Job, error) {
	return func() (*batchv1.Job, error) {
		w := kubequeue.NewWorker(resizeName, func(context.Context, T) error { return nil }, kubequeue.WithImage(testImage))
		queue, err := kubequeue.New(fake.NewClientset())
		if err != nil {
			return nil, err
		}
		return queue.Build(w, payload)
	}
}

// Payload types for TestPayloadRoundTrip.
type (
	jsLevel struct {
		Level int `json:"level"`
	}
	jsInner struct {
		Name  string            `json:"name"`
		Tags  []string          `json:"tags"`
		Attrs map[string]string `json:"attrs,omitempty"`
	}
	jsTricky struct {
		jsLevel
		Text     string                      `json:"text"`
		Ptr      *string                     `json:"ptr"`
		NilPtr   *int                        `json:"nil_ptr"`
		PtrPtr   **int                       `json:"ptr_ptr"`
		Inner    jsInner                     `json:"inner"`
		InnerPtr *jsInner                    `json:"inner_ptr"`
		Items    []jsInner                   `json:"items"`
		Empty    []int                       `json:"empty"`
		Nil      []int                       `json:"nil"`
		Array    [3]int8                     `json:"array"`
		ByID     map[int]string              `json:"by_id"`
		Nested   map[string][]map[string]int `json:"nested"`
		EmptyMap map[string]bool             `json:"empty_map"`
		When     time.Time                   `json:"when"`
		Zero     time.Time                   `json:"zero"`
		Took     time.Duration               `json:"took"`
		Bytes    []byte                      `json:"bytes"`
		Flag     bool                        `json:"flag"`
		Raw      json.RawMessage             `json:"raw,omitempty"`
	}
	jsNumbers struct {
		MaxInt64        int64   `json:"max_int64"`
		MinInt64        int64   `json:"min_int64"`
		MaxUint64       uint64  `json:"max_uint64"`
		MaxInt32        int32   `json:"max_int32"`
		MinInt8         int8    `json:"min_int8"`
		MaxFloat64      float64 `json:"max_float64"`
		NegMaxFloat64   float64 `json:"neg_max_float64"`
		SmallestFloat64 float64 `json:"smallest_float64"`
		SmallestNormal  float64 `json:"smallest_normal"`
		NegZero         float64 `json:"neg_zero"`
		Tenth           float64 `json:"tenth"`
		OneThird        float64 `json:"one_third"`
		Above2To53      float64 `json:"above_2_to_53"`
		MaxFloat32      float32 `json:"max_float32"`
		SmallestFloat32 float32 `json:"smallest_float32"`
		Uintptr         uintptr `json:"uintptr"`
	}
)

// jsRoundTrip returns a test that builds a Job for v with a worker of v's
// type, performs the Job in-process and requires perform to get v back.
func jsRoundTrip[T any](v T) func(t *testing.T) {
	return func(t *testing.T) {
		var (
			got    T
			called int
		)
		w := kubequeue.NewWorker("round-trip", func(_ context.Context, p T) error {
			got = p
			called++
			return nil
		}, kubequeue.WithImage(testImage))
		job := build(t, w, v)
		require.True(t, json.Valid([]byte(envOf(t, job, "KUBEQUEUE_PAYLOAD"))))
		_, err := kubequeue.PerformJob(t.Context(), job, w)
		require.NoError(t, err)
		require.Equal(t, 1, called)
		require.Equal(t, v, got)
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	t.Parallel()

	controls := make([]byte, 0, 32)
	for c := byte(1); c < 0x20; c++ {
		controls = append(controls, c)
	}
	controls = append(controls, 0x7f)
	seven := 7
	sevenPtr := &seven
	text := "pointed-to"

	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{name: "EmptyString", run: jsRoundTrip("")},
		{name: "Quotes", run: jsRoundTrip(`he said "hi" and 'bye' ""`)},
		{name: "Backslashes", run: jsRoundTrip(`C:\path\to\file \\server\share \" \u0041 \n`)},
		{name: "Newlines", run: jsRoundTrip("line 1\nline 2\r\nline 3\r")},
		{name: "Tabs", run: jsRoundTrip("a\tb\t\tc\v\f")},
		{name: "ControlCharacters", run: jsRoundTrip(string(controls))},
		{name: "Unicode", run: jsRoundTrip("héllo wörld — 日本語 中文 한국어 Ελληνικά")},
		{name: "Emoji", run: jsRoundTrip("🚀 👩‍👩‍👧‍👦 🇺🇸 👍🏽 ❤️")},
		{name: "RightToLeft", run: jsRoundTrip("مرحبا بالعالم \u200fשלום עולם\u202e reversed\u202c")},
		{name: "LineAndParagraphSeparators", run: jsRoundTrip("a\u2028b\u2029c\ufeffd")},
		{name: "HTML", run: jsRoundTrip(`<script>alert("x")</script> & &amp; <>`)},
		{name: "JSONLookalike", run: jsRoundTrip(`{"id": 1, "note": null}`)},
		{name: "DollarSigns", run: jsRoundTrip("costs $$5, $(HOME) ${PATH} $ $$(X) \\$(Y)")},
		{name: "DollarSignsInMapKeys", run: jsRoundTrip(map[string]string{"$(HOME)": "$$", "$": ""})},
		{name: "LongString", run: jsRoundTrip(strings.Repeat("ab\"\\\n🚀", 2000))},
		{name: "MaxInt64", run: jsRoundTrip(int64(math.MaxInt64))},
		{name: "MinInt64", run: jsRoundTrip(int64(-math.MaxInt64 - 1))},
		{name: "MaxUint64", run: jsRoundTrip(uint64(math.MaxUint64))},
		{name: "MaxFloat64", run: jsRoundTrip(math.MaxFloat64)},
		{name: "SmallestFloat64", run: jsRoundTrip(math.SmallestNonzeroFloat64)},
		{name: "Numbers", run: jsRoundTrip(jsNumbers{
			MaxInt64:        math.MaxInt64,
			MinInt64:        -math.MaxInt64 - 1,
			MaxUint64:       math.MaxUint64,
			MaxInt32:        math.MaxInt32,
			MinInt8:         math.MinInt8,
			MaxFloat64:      math.MaxFloat64,
			NegMaxFloat64:   -math.MaxFloat64,
			SmallestFloat64: math.SmallestNonzeroFloat64,
			SmallestNormal:  0x1p-1022,
			NegZero:         math.Copysign(0, -1),
			Tenth:           0.1,
			OneThird:        1.0 / 3,
			Above2To53:      1<<53 + 2,
			MaxFloat32:      math.MaxFloat32,
			SmallestFloat32: math.SmallestNonzeroFloat32,
			Uintptr:         ^uintptr(0),
		})},
		{name: "EmptyStruct", run: jsRoundTrip(struct{}{})},
		{name: "ZeroStruct", run: jsRoundTrip(jsTricky{})},
		{name: "Nested", run: jsRoundTrip(jsTricky{
			jsLevel:  jsLevel{Level: 3},
			Text:     "tab\there \"quoted\" <b>&</b> 🚀",
			Ptr:      &text,
			PtrPtr:   &sevenPtr,
			Inner:    jsInner{Name: "inner", Tags: []string{"a", "", "ü"}, Attrs: map[string]string{"k": "v", "": "empty key", "new\nline": "x"}},
			InnerPtr: &jsInner{Name: "pointer", Tags: []string{}},
			Items:    []jsInner{{Name: "one"}, {Name: "two", Tags: []string{"x"}}},
			Empty:    []int{},
			Array:    [3]int8{math.MinInt8, 0, math.MaxInt8},
			ByID:     map[int]string{-1: "minus one", 0: "zero", math.MaxInt: "max"},
			Nested:   map[string][]map[string]int{"a": {{"x": 1}, {}, nil}},
			EmptyMap: map[string]bool{},
			When:     time.Date(2024, time.February, 29, 23, 59, 59, 123456789, time.UTC),
			Took:     -90 * time.Minute,
			Bytes:    []byte{0, 1, 2, 0xff, '"', '\\'},
			Flag:     true,
			Raw:      json.RawMessage(`{"a":[1,2,{"b":null}]}`),
		})},
		{name: "Slice", run: jsRoundTrip([]string{"a", "", `"`, "\x01\x02\x1f"})},
		{name: "NilSlice", run: jsRoundTrip([]int(nil))},
		{name: "Map", run: jsRoundTrip(map[string][]int{"": nil, "a": {1, -1}, "🚀": {}})},
		{name: "Pointer", run: jsRoundTrip(&jsInner{Name: "p", Tags: []string{"t"}})},
		{name: "NilPointer", run: jsRoundTrip((*jsInner)(nil))},
		{name: "Time", run: jsRoundTrip(time.Date(1, time.January, 1, 0, 0, 0, 1, time.UTC))},
		{name: "TimeLate", run: jsRoundTrip(time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t)
		})
	}

	t.Run("HTMLNotEscaped", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(resizeName, func(context.Context, string) error { return nil }, kubequeue.WithImage(testImage))
		job := build(t, w, "<a> & <b>")
		require.Equal(t, `"<a> & <b>"`, envOf(t, job, "KUBEQUEUE_PAYLOAD"))
	})

	// The kubelet expands $(NAME) and turns $$ into $ in environment values,
	// so the payload must not contain either as written.
	t.Run("DollarsNotExpandedByKubelet", func(t *testing.T) {
		t.Parallel()
		w := kubequeue.NewWorker(resizeName, func(context.Context, map[string]string) error { return nil }, kubequeue.WithImage(testImage))
		job := build(t, w, map[string]string{"$(KEY)": "costs $$5 and $(HOME)"})
		value := envOf(t, job, "KUBEQUEUE_PAYLOAD")
		require.NotContains(t, value, "$(")
		require.NotContains(t, value, "$$")
	})

	t.Run("MaxSize", func(t *testing.T) {
		t.Parallel()
		jsRoundTrip(strings.Repeat("é", (kubequeue.MaxEnvPayloadSize-2)/2))(t)
	})
}

// TestQueue_Build_AtTheLimits checks that what the API server and the
// runtime accept passes Build: the counterparts of the refusals in
// TestInvalidInput_RefusedBeforeAnyAPICall.
func TestQueue_Build_AtTheLimits(t *testing.T) {
	t.Parallel()
	const annotationLimit, enqueueID, uniqueKey = 256 << 10, 23 + 32, 23 + 64
	annotations := func(total int) map[string]string { return map[string]string{"k": strings.Repeat("a", total-1)} }
	emptyDir := corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}

	t.Run("Annotations", func(t *testing.T) {
		t.Parallel()
		w := resizeWorker(t, kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID)))
		job := build(t, w, resizeArgs{})
		job.Annotations[kubequeue.AnnotationEnqueueID] = strings.Repeat("0", 32) // as Enqueue adds it
		size := 0
		for k, v := range job.Annotations {
			size += len(k) + len(v)
		}
		require.Equal(t, annotationLimit, size)
		build(t, resizeWorker(t), resizeArgs{}, kubequeue.WithAnnotations(annotations(annotationLimit-enqueueID-uniqueKey)), kubequeue.WithUniqueKey("order-42"))

		// Annotations too large by themselves are reported once.
		tooLarge := kubequeue.NewWorker(resizeName, performResize, kubequeue.WithImage(testImage), kubequeue.WithAnnotations(annotations(annotationLimit+1)))
		require.Len(t, validationErrors(tooLarge.Validate()), 1, "%v", tooLarge.Validate())
	})

	t.Run("Mounts", func(t *testing.T) {
		t.Parallel()
		for _, p := range []string{"/var/run/kubequeue-other", "/var/run/kubequeue/payloads", "/var/run/other", "/var/runx", "/data"} {
			build(t, resizeWorker(t, kubequeue.WithVolumes(emptyDir), kubequeue.WithVolumeMounts(corev1.VolumeMount{Name: "data", MountPath: p})), resizeArgs{})
		}
	})

	t.Run("FailurePolicyRules", func(t *testing.T) {
		t.Parallel()
		rules := kubequeue.WithPodFailurePolicyRules(
			batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("worker"), Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{0, 1, 2, 42},
			}},
			batchv1.PodFailurePolicyRule{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{
				{Type: "example.com/Preempted", Status: corev1.ConditionUnknown},
			}},
		)
		build(t, resizeWorker(t, rules), resizeArgs{})
		build(t, resizeWorker(t), resizeArgs{}, rules)
		// A mutator may add the container a rule names.
		build(t, resizeWorker(t), resizeArgs{}, kubequeue.WithPodFailurePolicyRules(batchv1.PodFailurePolicyRule{
			Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{
				ContainerName: ptr.To("sidecar"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3},
			},
		}), kubequeue.WithJobMutator(func(j *batchv1.Job) {
			j.Spec.Template.Spec.Containers = append(j.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: testImage})
		}))
	})

	t.Run("Payloads", func(t *testing.T) {
		t.Parallel()
		// A valid escape of U+FFFD in a raw message is no replacement.
		jsRoundTrip(json.RawMessage(`{"text":"\ufffd"}`))(t)
		jsRoundTrip(jsTricky{Raw: json.RawMessage(`"a\ufffdb"`), Text: `\ufffd`})(t)
		// An interface field decodes when it is nil; a recursive type
		// when it is not too deep.
		jsRoundTrip(jsStringerField{})(t)
		chain := &jsNode{}
		for range 100 {
			chain = &jsNode{Next: chain}
		}
		jsRoundTrip(chain)(t)
		jsRoundTrip(map[string]any{"a": []any{"b", 1.5, true, nil, map[string]any{}}})(t)
	})
}

type jsStringerField struct{ S fmt.Stringer }

// TestQueue_Build_WhatEnqueueAdds pins what the README says sets the Job
// Enqueue creates apart from the one Build returns: the enqueue ID
// annotation and, for a payload in a Secret, 8 hex digits of that ID
// appended to the Secret's name.
func TestQueue_Build_WhatEnqueueAdds(t *testing.T) {
	t.Parallel()
	for _, sensitive := range []bool{false, true} {
		t.Run(fmt.Sprintf("Sensitive=%v", sensitive), func(t *testing.T) {
			t.Parallel()
			var opts []kubequeue.EnqueueOption
			if sensitive {
				opts = append(opts, kubequeue.WithSensitivePayload())
			}
			client, queue := setup(t)
			_, builder := setup(t)
			built, err := builder.Build(newGreeter(), greeting{Name: "Ada"}, opts...)
			require.NoError(t, err)
			_, err = queue.Enqueue(t.Context(), newGreeter(), greeting{Name: "Ada"}, opts...)
			require.NoError(t, err)

			created := client.Actions()[0].(k8stesting.CreateAction).GetObject().(*batchv1.Job).DeepCopy()
			id := created.Annotations[kubequeue.AnnotationEnqueueID]
			require.Regexp(t, "^[0-9a-f]{32}$", id)
			delete(created.Annotations, kubequeue.AnnotationEnqueueID)
			if len(created.Annotations) == 0 {
				created.Annotations = nil
			}
			if sensitive {
				var secret *corev1.SecretVolumeSource
				for _, v := range created.Spec.Template.Spec.Volumes {
					if v.Secret != nil {
						secret = v.Secret
					}
				}
				require.NotNil(t, secret)
				require.Equal(t, built.Name+"-"+id[:8], secret.SecretName)
				secret.SecretName = built.Name
			}
			require.Equal(t, built, created)
		})
	}
}
