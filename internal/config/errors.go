package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// An Error is one problem in the file, located by line and field.
type Error struct {
	Path  string // the file
	Line  int    // 0 when the problem has no single place
	Field string // e.g. uplinks[1].gateway
	Msg   string // what is wrong and how to fix it
}

func (e *Error) Error() string {
	loc := e.Path
	if e.Line > 0 {
		loc += ":" + strconv.Itoa(e.Line)
	}
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Errors is every problem found in one file.
type Errors []*Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

var (
	yamlLine      = regexp.MustCompile(`^line (\d+): (.*)$`)
	unknownField  = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotConvert = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")
)

// fromYAML rewrites yaml.v3's decoding errors in the file's terms.
func fromYAML(path string, err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			n, _ := strconv.Atoi(m[1])
			return Errors{{Path: path, Line: n, Msg: "not valid YAML: " + m[2]}}
		}
		return Errors{{Path: path, Msg: "not valid YAML: " + msg}}
	}
	var out Errors
	for _, s := range te.Errors {
		e := &Error{Path: path, Msg: s}
		if m := yamlLine.FindStringSubmatch(s); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = m[2]
		}
		if m := unknownField.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = fmt.Sprintf("unknown key %q; check its spelling and indentation against examples/reference.yaml", m[1])
		} else if m := cannotConvert.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = fmt.Sprintf("%q is a %s where a %s is wanted", m[2], yamlKind(m[1]), goKind(m[3]))
		}
		out = append(out, e)
	}
	return out
}

func yamlKind(tag string) string {
	switch tag {
	case "str":
		return "string"
	case "int":
		return "number"
	case "seq":
		return "list"
	case "map":
		return "mapping"
	}
	return tag
}

func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "list"
	case strings.Contains(t, "int"):
		return "whole number"
	case strings.Contains(t, "Duration"):
		return "duration such as 1s or 500ms"
	case t == "string":
		return "string"
	case strings.HasPrefix(t, "config.raw"):
		return "mapping"
	}
	return t
}
