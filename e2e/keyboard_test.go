package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The keyboard helper of the keyboard-only journeys. A key press is sent
// as a keyboard sends it: rawKeyDown, then char for a key that types
// something (Enter, Space, a letter), then keyUp. chromedp's KeyEvent
// sends a keyDown carrying the text instead, which Chromium handles as
// both the key and its character: Enter on a link in a form can then
// submit the form twice.

// key is one key of the keyboard.
type key struct {
	name string // the DOM key value: "Tab", "Enter", " ", "a"
	code string // the physical key: "Tab", "Enter", "Space", "KeyA"
	vk   int64  // the Windows virtual key code Chromium expects
	text string // what the key types, "" for none
}

var (
	keyTab       = key{"Tab", "Tab", 9, ""}
	keyEnter     = key{"Enter", "Enter", 13, "\r"}
	keySpace     = key{" ", "Space", 32, " "}
	keyEscape    = key{"Escape", "Escape", 27, ""}
	keyBackspace = key{"Backspace", "Backspace", 8, ""}
	keyDown      = key{"ArrowDown", "ArrowDown", 40, ""}
	keyUp        = key{"ArrowUp", "ArrowUp", 38, ""}
	keyRight     = key{"ArrowRight", "ArrowRight", 39, ""}
	keyLeft      = key{"ArrowLeft", "ArrowLeft", 37, ""}
	keyShift     = key{"Shift", "ShiftLeft", 16, ""}
)

// modShift is the Shift bit of the protocol's modifiers.
const modShift = 8

// charKey is the key that types r on a UK keyboard (as far as the
// journeys need: letters, digits and the punctuation of passwords).
func charKey(r rune) key {
	s := string(r)
	switch {
	case r >= 'a' && r <= 'z':
		return key{s, "Key" + strings.ToUpper(s), int64(r - 'a' + 'A'), s}
	case r >= 'A' && r <= 'Z':
		return key{s, "Key" + s, int64(r), s}
	case r >= '0' && r <= '9':
		return key{s, "Digit" + s, int64(r), s}
	case r == ' ':
		return keySpace
	}
	return key{s, "", 0, s}
}

// press sends one key press with the modifiers held, as rawKeyDown, char
// (for a key that types) and keyUp.
func press(k key, modifiers int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		send := func(typ input.DispatchKeyEventType, text string) error {
			_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Modifiers: modifiers, Key: k.name, Code: k.code,
				WindowsVirtualKeyCode: k.vk, NativeVirtualKeyCode: k.vk,
				Text: text, UnmodifiedText: text,
			})
			return err
		}
		if err := send(input.DispatchKeyEventTypeRawKeyDown, ""); err != nil {
			return err
		}
		if k.text != "" {
			if err := send(input.DispatchKeyEventTypeChar, k.text); err != nil {
				return err
			}
		}
		return send(input.DispatchKeyEventTypeKeyUp, "")
	})
}

// shiftTab is Shift+Tab: Shift held down around a Tab.
func shiftTab() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		shift := func(typ input.DispatchKeyEventType, mods int64) error {
			_, err := chromedp.Call(ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{
				Type: typ, Modifiers: mods, Key: "Shift", Code: "ShiftLeft", WindowsVirtualKeyCode: 16, NativeVirtualKeyCode: 16, Location: 1})
			return err
		}
		if err := shift(input.DispatchKeyEventTypeRawKeyDown, modShift); err != nil {
			return err
		}
		if _, err := press(keyTab, modShift)(ctx, t); err != nil {
			return err
		}
		return shift(input.DispatchKeyEventTypeKeyUp, 0)
	})
}

// typeKeys types text key by key into whatever has focus.
func typeKeys(text string) chromedp.Action[chromedp.Void] {
	var steps []chromedp.Action[chromedp.Void]
	for _, r := range text {
		mods := int64(0)
		if r >= 'A' && r <= 'Z' || strings.ContainsRune(`!"£$%^&*()_+{}:@~<>?|#`, r) {
			mods = modShift
		}
		steps = append(steps, press(charKey(r), mods))
	}
	return chromedp.Steps(steps...)
}

// keys presses the keys in turn and fails the test on error.
func keys(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step(t, ctx, what, steps...)
}

// focusInfo is the element that has focus, as the DOM and the
// accessibility tree (what a screen reader announces) see it.
type focusInfo struct {
	Tag, ID, TestID, Text string
	Body                  bool   // focus is on <body>: lost
	Role, Name, Desc      string // from the accessibility tree
}

func (f focusInfo) String() string {
	if f.Body {
		return "<body> (focus lost)"
	}
	s := "<" + f.Tag
	if f.ID != "" {
		s += " id=" + f.ID
	}
	if f.TestID != "" {
		s += " data-testid=" + f.TestID
	}
	return fmt.Sprintf("%s> %s %q (description %q)", s, f.Role, f.Name, f.Desc)
}

// focusProbe describes document.activeElement for focusInfo.
const focusProbe = `(() => {
	const e = document.activeElement;
	if (!e || e === document.body || e === document.documentElement) return {Body: true};
	return {Tag: e.tagName.toLowerCase(), ID: e.id || "", TestID: e.getAttribute("data-testid") || "", Text: (e.innerText || e.value || "").slice(0, 200)};
})()`

// focused reads the focused element and, from the CDP Accessibility domain,
// its role, accessible name and accessible description.
func focused(ctx context.Context) (focusInfo, error) {
	f, err := chromedp.Run(ctx, chromedp.Evaluate[focusInfo](focusProbe))
	if err != nil || f.Body {
		return f, err
	}
	res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: "document.activeElement"})
	if err != nil {
		return f, err
	}
	if res.ExceptionDetails != nil || res.Result == nil || res.Result.ObjectID == "" {
		return f, fmt.Errorf("document.activeElement: no object")
	}
	fetch := false
	tree, err := chromedp.Call(ctx, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: res.Result.ObjectID, FetchRelatives: &fetch})
	if err != nil {
		return f, err
	}
	if len(tree.Nodes) > 0 {
		n := tree.Nodes[0]
		f.Role, f.Name, f.Desc = axString(n.Role), axString(n.Name), axString(n.Description)
	}
	return f, nil
}

// axString is an accessibility value as text.
func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if err := json.Unmarshal(v.Value, &s); err != nil {
		return string(v.Value)
	}
	return strings.Join(strings.Fields(s), " ")
}

// waitFocus waits (bounded) until the focused element matches the CSS
// selector, and returns it. It fails the test (going on) saying what has
// focus.
func waitFocus(t *testing.T, ctx context.Context, what, sel string) focusInfo {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	match := `(document.activeElement !== null && document.activeElement.matches(` + string(selJSON) + `))`
	var last focusInfo
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err := chromedp.Run(pctx, chromedp.Evaluate[bool](match))
		if err == nil && ok {
			f, err := focused(pctx)
			cancel()
			if err == nil {
				return f
			}
			continue
		}
		if f, err := focused(pctx); err == nil {
			last = f
		}
		cancel()
	}
	t.Errorf("%s: focus is on %s, want %s (at %s)", what, last, sel, location(t, ctx))
	return last
}

// tabTo presses Tab (or Shift+Tab when back) until the focused element
// matches the CSS selector, at most max times, failing the test if focus
// falls to <body> on the way. It returns the focused element.
func tabTo(t *testing.T, ctx context.Context, sel string, max int, back bool) focusInfo {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	match := `(document.activeElement !== null && document.activeElement.matches(` + string(selJSON) + `))`
	var path []string
	for i := 0; i <= max; i++ {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](match))
		if err != nil {
			t.Fatalf("tab to %s: %v", sel, err)
		}
		f, err := focused(ctx)
		if err != nil {
			t.Fatalf("tab to %s: %v", sel, err)
		}
		if ok {
			return f
		}
		if i > 0 && f.Body {
			t.Fatalf("tab to %s: focus fell to <body> after %d presses (%s)", sel, i, strings.Join(path, " → "))
		}
		path = append(path, f.String())
		if back {
			keys(t, ctx, "Shift+Tab", shiftTab())
		} else {
			keys(t, ctx, "Tab", press(keyTab, 0))
		}
	}
	t.Fatalf("tab to %s: not reached in %d presses: %s", sel, max, strings.Join(path, " → "))
	return focusInfo{}
}

// wantNotBody fails the test when focus is on <body>.
func wantNotBody(t *testing.T, ctx context.Context, after string) {
	t.Helper()
	f, err := focused(ctx)
	if err != nil {
		t.Fatalf("after %s: reading focus: %v", after, err)
	}
	if f.Body {
		t.Errorf("after %s: focus fell to <body>", after)
	}
}

// axOf is the role, accessible name and description of the first element
// matching the CSS selector.
func axOf(t *testing.T, ctx context.Context, sel string) (role, name, desc string) {
	t.Helper()
	selJSON, _ := json.Marshal(sel)
	res, err := chromedp.Call(ctx, runtime.Evaluate, runtime.EvaluateParams{Expression: `document.querySelector(` + string(selJSON) + `)`})
	if err != nil || res.Result == nil || res.Result.ObjectID == "" {
		t.Fatalf("accessibility of %s: no element (%v)", sel, err)
	}
	fetch := false
	tree, err := chromedp.Call(ctx, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{ObjectID: res.Result.ObjectID, FetchRelatives: &fetch})
	if err != nil || len(tree.Nodes) == 0 {
		t.Fatalf("accessibility of %s: %v", sel, err)
	}
	n := tree.Nodes[0]
	return axString(n.Role), axString(n.Name), axString(n.Description)
}

// viewport makes the tab's viewport width×height CSS pixels at the device
// scale: a 1280 px window at 200 % zoom is 640 CSS pixels at scale 2, at
// 400 % it is 320 (WCAG's reflow width).
func viewport(width, height int64, scale float64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: scale})
		return err
	})
}

// reducedMotion makes the tab ask for reduced motion, as the operating
// system's setting does.
func reducedMotion() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}})
		return err
	})
}

// textZoom sets the browser's default font size, as text-only zoom does
// (16 px is 100 %).
func textZoom(px int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.SetFontSizes, page.SetFontSizesParams{FontSizes: &page.FontSizes{Standard: px}})
		return err
	})
}

// overflow is how far the page is wider than its viewport, with the
// widest element that sticks out beyond it (0 and "" when it reflows).
type overflow struct {
	Extra  int
	Widest string
}

// horizontalOverflow measures the page the tab shows.
func horizontalOverflow(t *testing.T, ctx context.Context) overflow {
	t.Helper()
	o, err := chromedp.Run(ctx, chromedp.Evaluate[overflow](`(() => {
		const d = document.documentElement, extra = d.scrollWidth - d.clientWidth;
		let widest = "", right = d.clientWidth;
		for (const e of document.body.querySelectorAll("*")) {
			const r = e.getBoundingClientRect().right + window.scrollX;
			if (r > right + 0.5) {
				right = r;
				widest = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().split(/\s+/).join(".") : "") + " (" + Math.round(r) + " px)";
			}
		}
		return {Extra: extra, Widest: widest};
	})()`))
	if err != nil {
		t.Fatalf("measuring the page's width: %v", err)
	}
	return o
}

// reflowSizes are WCAG's reflow width (a 1280 px window at 400 %) and a
// 1280 px window at 200 % zoom, in CSS pixels and device scale.
var reflowSizes = []struct {
	width, height int64
	scale         float64
	what          string
}{{320, 256, 4, "320 px"}, {640, 500, 2, "200 % zoom"}}

// wantReflowAt reloads the page the tab shows at each of reflowSizes,
// waits for the element sel, fails the test if the page then scrolls
// sideways, and puts the tab's own size back.
func wantReflowAt(t *testing.T, ctx context.Context, where, sel string) {
	t.Helper()
	for _, size := range reflowSizes {
		step(t, ctx, where+" at "+size.what, viewport(size.width, size.height, size.scale), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(sel)))
		wantReflow(t, ctx, where+" at "+size.what)
	}
	step(t, ctx, where+" at the window's size", viewport(0, 0, 0), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(sel)))
}

// wantReflow fails the test when the page scrolls sideways.
func wantReflow(t *testing.T, ctx context.Context, where string) {
	t.Helper()
	if o := horizontalOverflow(t, ctx); o.Extra > 0 {
		t.Errorf("%s: the page scrolls sideways by %d px (widest: %s)", where, o.Extra, o.Widest)
	}
}
