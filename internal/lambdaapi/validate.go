package lambdaapi

//go:generate sh -c "python3 gen_model.py && gofmt -w model_gen.go"

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// ErrValidation is the exception AWS answers when a request breaks the API
// model's constraints (pattern, enum, length, range, required).
var ErrValidation = userError(http.StatusBadRequest, "ValidationException")

type kind uint8

const (
	kindString kind = iota + 1
	kindInteger
	kindDouble
	kindBoolean
	kindBlob
	kindTimestamp
	kindList
	kindMap
	kindStructure
)

type location uint8

const (
	locBody location = iota
	locURI
	locQuery
	locHeader
)

// shape is one shape of the Lambda model with the constraints the service
// checks.
type shape struct {
	kind           kind
	min, max       float64 // length for strings, lists and maps; value for numbers
	hasMin, hasMax bool
	pattern        string // as the model writes it, quoted in messages
	re2            string // a Go equivalent of pattern, when it differs
	enum           []string
	sensitive      bool
	// quietNull leaves "Member must not be null" out when the shape's
	// constraints are quoted for a map value, as AWS does for tag values.
	quietNull  bool
	elem       string // list member shape
	key, value string // map key and value shapes
	payload    string // the member that is the whole HTTP body
	members    []member
}

type member struct {
	name     string // PascalCase, as in JSON bodies
	shape    string
	loc      location
	locName  string // JSON key, URI label, query key or header
	required bool
}

// Request is what Validate reads of an HTTP request.
type Request struct {
	// Body is the JSON body decoded with UseNumber; nil when there is none.
	Body map[string]any
	// Label returns a URI label, already percent-decoded.
	Label  func(name string) string
	Query  url.Values
	Header http.Header
}

// HasJSONBody reports whether op's input travels as a JSON object (rather
// than a raw payload or nothing).
func HasJSONBody(op string) bool {
	s := modelShapes[modelOperations[op]]
	if s == nil || s.payload != "" {
		return false
	}
	for _, m := range s.members {
		if m.loc == locBody {
			return true
		}
	}
	return false
}

// Served reports whether the model table covers op.
func Served(op string) bool { _, ok := modelOperations[op]; return ok }

// Validate checks a request for operation op against the model. A value of
// the wrong JSON type is an InvalidRequestContentException; otherwise every
// broken constraint is listed, in the model's member order, in one
// ValidationException, as AWS words them:
//
//	2 validation errors detected: Value '0' at 'timeout' failed to satisfy
//	constraint: Member must have value greater than or equal to 1; Value
//	'r1' at 'role' failed to satisfy constraint: Member must satisfy
//	regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+
//
// Runtime is left out: AWS answers an unknown runtime with an
// InvalidParameterValueException (see CheckRuntime).
func Validate(op string, req Request) *Error {
	in := modelShapes[modelOperations[op]]
	if in == nil {
		return nil
	}
	v := validator{}
	if req.Body != nil {
		for _, m := range in.members {
			if m.loc != locBody || m.name == in.payload {
				continue
			}
			if val, ok := req.Body[m.locName]; ok && val != nil {
				v.typeCheck(m.locName, m.shape, val)
			}
		}
		if v.typeErr != "" {
			return ErrInvalidRequestContent.WithMessage("Could not parse request body into json: " + v.typeErr)
		}
	}
	for _, m := range in.members {
		if m.name == in.payload {
			continue
		}
		path := lowerFirst(m.name)
		switch m.loc {
		case locBody:
			var val any
			if req.Body != nil {
				val = req.Body[m.locName]
			}
			v.check(path, m.shape, val, m.required)
		case locURI:
			var val any
			if req.Label != nil {
				if s := req.Label(m.locName); s != "" {
					val = s
				}
			}
			v.check(path, m.shape, val, m.required)
		case locQuery:
			vals, ok := req.Query[m.locName]
			var val any
			if ok {
				val = queryValue(modelShapes[m.shape], vals)
			}
			v.check(path, m.shape, val, m.required)
		case locHeader:
			var val any
			if vals := req.Header.Values(m.locName); len(vals) > 0 {
				val = vals[0]
			}
			v.check(path, m.shape, val, m.required)
		}
	}
	return ValidationError(v.errs)
}

// ValidationError words failures as AWS's ValidationException; nil when
// there are none.
func ValidationError(failures []string) *Error {
	switch len(failures) {
	case 0:
		return nil
	case 1:
		return ErrValidation.WithMessage("1 validation error detected: " + failures[0])
	}
	return ErrValidation.WithMessage(fmt.Sprintf("%d validation errors detected: %s", len(failures), strings.Join(failures, "; ")))
}

// queryValue converts query values to what a JSON body would hold.
func queryValue(s *shape, vals []string) any {
	if s == nil {
		return nil
	}
	switch s.kind {
	case kindList:
		l := make([]any, len(vals))
		for i, x := range vals {
			l[i] = x
		}
		return l
	case kindInteger, kindDouble:
		if _, err := strconv.ParseFloat(vals[0], 64); err != nil {
			return vals[0] // left to the handler
		}
		return json.Number(vals[0])
	}
	return vals[0]
}

type validator struct {
	errs    []string
	typeErr string
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	if l, ok := lowerNames[s]; ok {
		return l
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// typeCheck records the first value whose JSON type does not fit its shape.
func (v *validator) typeCheck(field, name string, val any) {
	s := modelShapes[name]
	if s == nil || v.typeErr != "" || val == nil {
		return
	}
	want := ""
	switch s.kind {
	case kindString, kindBlob:
		if _, ok := val.(string); !ok {
			want = "String"
		}
	case kindInteger:
		n, ok := val.(json.Number)
		if ok {
			_, err := n.Int64()
			ok = err == nil
		}
		if !ok {
			want = "Integer"
		}
	case kindDouble, kindTimestamp:
		if _, ok := val.(json.Number); !ok {
			want = "Double"
		}
	case kindBoolean:
		if _, ok := val.(bool); !ok {
			want = "Boolean"
		}
	case kindList:
		l, ok := val.([]any)
		if !ok {
			want = "List"
			break
		}
		for _, e := range l {
			v.typeCheck(field, s.elem, e)
		}
	case kindMap:
		m, ok := val.(map[string]any)
		if !ok {
			want = "Map"
			break
		}
		for _, e := range m {
			v.typeCheck(field, s.value, e)
		}
	case kindStructure:
		m, ok := val.(map[string]any)
		if !ok {
			want = "Object"
			break
		}
		for _, mm := range s.members {
			if e, ok := m[mm.locName]; ok && e != nil {
				v.typeCheck(mm.locName, mm.shape, e)
			}
		}
	}
	if want != "" {
		v.typeErr = fmt.Sprintf("Cannot deserialize value of type %s from %s (field %q)", want, jsonKind(val), field)
	}
}

func jsonKind(val any) string {
	switch val.(type) {
	case string:
		return "String"
	case json.Number:
		return "Number"
	case bool:
		return "Boolean"
	case []any:
		return "Array"
	case map[string]any:
		return "Object"
	}
	return "null"
}

// check appends the failures of val (nil when absent) at path.
func (v *validator) check(path, name string, val any, required bool) {
	s := modelShapes[name]
	if s == nil {
		return
	}
	if val == nil {
		if required {
			v.errs = append(v.errs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", path))
		}
		return
	}
	if name == "Runtime" {
		// The filter of ListLayers and ListLayerVersions is checked
		// against the service's own, longer set (recorded); a function's
		// Runtime is an InvalidParameterValueException, see CheckRuntime.
		if str, _ := val.(string); path == "compatibleRuntime" && !contains(layerRuntimeFilter, str) {
			v.errs = append(v.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must satisfy enum value set: [%s]", str, path, strings.Join(layerRuntimeFilter, ", ")))
		}
		return
	}
	for _, c := range s.failures(val) {
		v.errs = append(v.errs, fmt.Sprintf("Value %sat '%s' failed to satisfy constraint: %s", quoteValue(s, val), path, c))
	}
	switch s.kind {
	case kindStructure:
		m, _ := val.(map[string]any)
		for _, mm := range s.members {
			v.check(path+"."+lowerFirst(mm.name), mm.shape, m[mm.locName], mm.required)
		}
	case kindList:
		if es := modelShapes[s.elem]; es != nil && es.kind == kindStructure {
			l, _ := val.([]any)
			for i, e := range l {
				v.check(fmt.Sprintf("%s.%d.member", path, i+1), s.elem, e, false)
			}
		}
	}
}

// failures lists the constraints val breaks that are checked on the value
// itself (structure members are checked by their own paths).
func (s *shape) failures(val any) []string {
	var out []string
	switch s.kind {
	case kindString:
		str, _ := val.(string)
		out = append(out, s.lengthFailures(utf8.RuneCountInString(str))...)
		if len(s.enum) > 0 && !contains(s.enum, str) {
			out = append(out, "Member must satisfy enum value set: ["+strings.Join(s.enum, ", ")+"]")
		}
		if s.pattern != "" && !s.matches(str) {
			out = append(out, "Member must satisfy regular expression pattern: "+s.pattern)
		}
	case kindInteger, kindDouble:
		n, _ := val.(json.Number)
		f, err := n.Float64()
		if err != nil {
			break
		}
		if s.hasMax && f > s.max {
			out = append(out, "Member must have value less than or equal to "+s.bound(s.max))
		}
		if s.hasMin && f < s.min {
			out = append(out, "Member must have value greater than or equal to "+s.bound(s.min))
		}
	case kindList:
		l, _ := val.([]any)
		out = append(out, s.lengthFailures(len(l))...)
		if s.elem == "Runtime" {
			// CompatibleRuntimes: AWS quotes its own runtime set, not
			// wrapped as other lists' element constraints are (recorded:
			// TestLambdaLayer::test_layer_exceptions).
			for _, e := range l {
				if str, _ := e.(string); !contains(RuntimeEnum(), str) {
					out = append(out, "Member must satisfy enum value set: ["+strings.Join(runtimeEnum, ", ")+"]")
					break
				}
			}
			break
		}
		if es := modelShapes[s.elem]; es != nil && es.kind != kindStructure {
			for _, e := range l {
				if e == nil || len(es.failures(e)) > 0 {
					out = append(out, "Member must satisfy constraint: ["+strings.Join(es.constraints(true), ", ")+"]")
					break
				}
			}
		}
	case kindMap:
		m, _ := val.(map[string]any)
		out = append(out, s.lengthFailures(len(m))...)
		ks, vs := modelShapes[s.key], modelShapes[s.value]
		var badKey, badValue bool
		for k, e := range m {
			badKey = badKey || ks != nil && len(ks.failures(k)) > 0
			badValue = badValue || vs != nil && (e == nil || len(vs.failures(e)) > 0)
		}
		if badKey {
			out = append(out, "Map keys must satisfy constraint: ["+strings.Join(ks.constraints(false), ", ")+"]")
		}
		if badValue {
			out = append(out, "Map value must satisfy constraint: ["+strings.Join(vs.constraints(!vs.quietNull), ", ")+"]")
		}
	}
	return out
}

// constraints lists every constraint of an element shape, as AWS quotes
// them when one element of a list or map breaks any: the maximum, the
// minimum, the enum or pattern, and (for list members and map values)
// "Member must not be null". Recorded from AWS, e.g. for Architectures:
// "Member must satisfy constraint: [Member must satisfy enum value set:
// [x86_64, arm64], Member must not be null]".
func (s *shape) constraints(notNull bool) []string {
	var out []string
	what := "length"
	if s.kind == kindInteger || s.kind == kindDouble {
		what = "value"
	}
	if s.hasMax {
		out = append(out, "Member must have "+what+" less than or equal to "+s.bound(s.max))
	}
	if s.hasMin {
		out = append(out, "Member must have "+what+" greater than or equal to "+s.bound(s.min))
	}
	if len(s.enum) > 0 {
		out = append(out, "Member must satisfy enum value set: ["+strings.Join(s.enum, ", ")+"]")
	}
	if s.pattern != "" {
		out = append(out, "Member must satisfy regular expression pattern: "+s.pattern)
	}
	if notNull {
		out = append(out, "Member must not be null")
	}
	return out
}

func (s *shape) lengthFailures(n int) []string {
	var out []string
	if s.hasMax && float64(n) > s.max {
		out = append(out, "Member must have length less than or equal to "+s.bound(s.max))
	}
	if s.hasMin && float64(n) < s.min {
		out = append(out, "Member must have length greater than or equal to "+s.bound(s.min))
	}
	return out
}

// bound prints a limit as the service does: integers plainly, doubles
// with a fraction.
func (s *shape) bound(f float64) string {
	if s.kind == kindDouble {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// regexps holds every shape's pattern compiled to match whole values, as
// the service's (Java) matcher does. Built once; the map is read-only
// afterwards.
var regexps = func() map[*shape]*pattern {
	m := map[*shape]*pattern{}
	for _, s := range modelShapes {
		if s.pattern == "" {
			continue
		}
		p := s.pattern
		if s.re2 != "" {
			p = s.re2
		}
		m[s] = &pattern{re: regexp.MustCompile("^(?:" + p + ")$")}
	}
	return m
}()

// pattern is a shape's compiled pattern and the last value it matched:
// requests repeat the same names (a function's invocations), and a
// backtracking match of an ARN pattern costs microseconds.
type pattern struct {
	re   *regexp.Regexp
	last atomic.Pointer[string]
}

// matches reports whether str matches s's pattern.
func (s *shape) matches(str string) bool {
	p := regexps[s]
	if last := p.last.Load(); last != nil && *last == str {
		return true
	}
	if !p.re.MatchString(str) {
		return false
	}
	p.last.Store(&str)
	return true
}

// lowerNames maps every member name of the model to its lowerFirst form,
// the path validation messages give, so that validating a request does
// not build them again.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, s := range modelShapes {
		for _, mm := range s.members {
			m[mm.name] = strings.ToLower(mm.name[:1]) + mm.name[1:]
		}
	}
	return m
}()

// quoteValue renders val for a message the way AWS does: 'text' followed
// by a space, or nothing for sensitive members and structures.
func quoteValue(s *shape, val any) string {
	if s.sensitive || s.kind == kindStructure {
		return ""
	}
	return "'" + render(s, val) + "' "
}

// render prints val, a value of shape s (nil when unknown), as the
// service's (Java) messages do: a double with a fraction ('{2=2.0}' for
// a routing weight of 2, recorded from AWS).
func render(s *shape, val any) string {
	var elem *shape
	if s != nil {
		switch s.kind {
		case kindList:
			elem = modelShapes[s.elem]
		case kindMap:
			elem = modelShapes[s.value]
		}
	}
	switch x := val.(type) {
	case string:
		return x
	case json.Number:
		if s != nil && s.kind == kindDouble {
			if f, err := x.Float64(); err == nil {
				return javaDouble(f)
			}
		}
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = render(elem, e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + render(elem, x[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(val)
}

// javaDouble formats f as Java's Double.toString does: at least one
// digit after the point, and scientific notation ("1.0E7") outside
// [0.001, 10^7).
func javaDouble(f float64) string {
	if a := math.Abs(f); a != 0 && (a < 1e-3 || a >= 1e7) {
		m, e, _ := strings.Cut(strconv.FormatFloat(f, 'E', -1, 64), "E")
		if !strings.Contains(m, ".") {
			m += ".0"
		}
		n, _ := strconv.Atoi(e)
		return m + "E" + strconv.Itoa(n)
	}
	t := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(t, ".") {
		t += ".0"
	}
	return t
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// RuntimeEnum lists the Runtime values the model knows, in its order.
func RuntimeEnum() []string { return modelShapes["Runtime"].enum }
