// Command gen writes the golden expectations of sse-shape's template engine: it renders every case of
// ../inputs.json (a case without values reads the file's \"values\") with Go's text/template (Option("missingkey=error"), the values as map[string]string, as ESO
// runs templates) and slim-sprig's TxtFuncMap, and writes ../cases.json: each case with the output Go produced,
// or "error": true when Go refused to parse or failed to render.
//
// Run it offline, in GOPATH mode, from crates/sse-shape/tests/golden/gen:
//
//	mkdir -p /tmp/golden/src/github.com/go-task && git -C /work/.mirror/openshift+microshift/repo archive HEAD \
//	  deps/github.com/openshift/kubernetes/vendor/github.com/go-task/slim-sprig/v3 | tar -x -C /tmp/golden
//	mv /tmp/golden/deps/github.com/openshift/kubernetes/vendor/github.com/go-task/slim-sprig \
//	  /tmp/golden/src/github.com/go-task/slim-sprig
//	mkdir -p /tmp/golden/src/gen && cp main.go /tmp/golden/src/gen/ && cd /tmp/golden/src/gen && \
//	  GOPATH=/tmp/golden GO111MODULE=off GOPROXY=off GOFLAGS= /usr/lib/go-1.23/bin/go run . \
//	  <repo>/crates/sse-shape/tests/golden/inputs.json <repo>/crates/sse-shape/tests/golden/cases.json
//
// slim-sprig v3 (github.com/go-task/slim-sprig/v3) is the copy vendored by openshift/kubernetes in the
// openshift/microshift repository (deps/github.com/openshift/kubernetes/vendor/github.com/go-task/slim-sprig/v3);
// it needs only Go's standard library. Neither it nor any binary is committed here.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"text/template"

	sprig "github.com/go-task/slim-sprig/v3"
)

type input struct {
	Name     string            `json:"name"`
	Template string            `json:"template"`
	Values   map[string]string `json:"values,omitempty"`
}

type output struct {
	input
	Output *string `json:"output,omitempty"`
	Error  bool    `json:"error,omitempty"`
}

type inputs struct {
	Values map[string]string `json:"values"`
	Cases  []input           `json:"cases"`
}

type file struct {
	Generator string            `json:"generator"`
	Values    map[string]string `json:"values"`
	Cases     []output          `json:"cases"`
}

func render(in input, defaults map[string]string) (string, error) {
	t, err := template.New(in.Name).Option("missingkey=error").Funcs(sprig.TxtFuncMap()).Parse(in.Template)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	values := in.Values
	if values == nil {
		values = defaults
	}
	if err := t.Execute(&buf, values); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen inputs.json cases.json")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	if err != nil {
		panic(err)
	}
	var ins inputs
	if err := json.Unmarshal(raw, &ins); err != nil {
		panic(err)
	}
	out := file{
		Generator: fmt.Sprintf("%s text/template + go-task/slim-sprig v3 (tests/golden/gen/main.go)", runtime.Version()),
		Values:    ins.Values,
	}
	for _, in := range ins.Cases {
		o := output{input: in}
		if s, err := render(in, ins.Values); err != nil {
			o.Error = true
		} else {
			o.Output = &s
		}
		out.Cases = append(out.Cases, o)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		panic(err)
	}
	if err := os.WriteFile(os.Args[2], buf.Bytes(), 0o644); err != nil {
		panic(err)
	}
}
