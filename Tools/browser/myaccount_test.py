"""The Authenticator App page in headless Chromium, driven as a person would.

Opens the page with a token, presses "+", reads the QR code off a screenshot with zbarimg,
computes the code with oathtool, types it and presses Verify; checks that the eye icon shows
the same QR code; presses Regenerate, checks that a code from the old secret is refused and one
from the new secret enables it. Independent tools only: zbarimg decodes what the browser drew,
oathtool computes the codes, the API's own history counts what a gesture recorded, and contrast
and layout are measured from what the browser computed (styles, boxes), not read from our CSS.

Usage: myaccount_test.py URL --work DIR [--screenshot docs/myaccount.png]
Prints 'N passed, N failed' at the end; exits non-zero when a check fails.
"""

import argparse
import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

results = {"passed": 0, "failed": 0}


def check(condition, what):
    if condition:
        results["passed"] += 1
        print(f"ok: {what}", flush=True)
    else:
        results["failed"] += 1
        print(f"FAILED: {what}", flush=True)
    return condition


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1000,1200", "--force-device-scale-factor=1", "--lang=en-US"):
        options.add_argument(argument)
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    # Times on the page are read back and compared with the API's (UTC).
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "UTC"})
    return driver


def decode_qr(driver, path):
    """Screenshot the page and decode the QR code on it with zbarimg."""
    driver.save_screenshot(path)
    output = subprocess.run(["zbarimg", "--quiet", "--raw", path], capture_output=True, text=True)
    return output.stdout.strip() if output.returncode == 0 else None


def remember_secret(work, uri):
    """The shell script checks that the server log never holds these."""
    secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
    with open(f"{work}/secrets.txt", "a") as file:
        file.write(secret + "\n")


def totp(uri, offset=0):
    query = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)
    secret = query["secret"][0]
    digits = query.get("digits", ["6"])[0]
    algorithm = query.get("algorithm", ["SHA1"])[0].lower()
    period = query.get("period", ["30"])[0]
    now = int(time.time()) + offset
    return subprocess.run(["oathtool", "--totp=" + algorithm, "-b", "-d", digits, "-s", period + "s", "--now", f"@{now}", secret],
                          capture_output=True, text=True, check=True).stdout.strip()


def api(page, token, method, body=None):
    """The TOTP API called directly, as another window or device of the same user would."""
    base = page.split("/myaccount")[0] + "/api/users/v1/me/totp"
    request = urllib.request.Request(base, method=method, data=body.encode() if body else None, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status


def api_json(page, token, path):
    """GET a JSON answer of the API (status, history, the pending secret), as another window would."""
    base = page.split("/myaccount")[0] + "/api/users/v1/me/totp"
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return json.load(response)


def recorded(page, token, event_type, **fields):
    """How many events of this type (with these fields) the user's history holds."""
    entries, after = [], None
    while True:
        answer = api_json(page, token, "/history?limit=500" + (f"&after={after}" if after else ""))
        entries += answer["entries"]
        after = answer.get("next")
        if not after:
            break
    return sum(1 for e in entries if e["type"] == event_type
               and all(e["event"].get(k) == v for k, v in fields.items()))


# WCAG 2.x contrast of every visible text against what is painted behind it, from computed styles.
CONTRAST = """
const rgba = (c) => { const m = c.match(/[\\d.]+/g).map(Number); return [m[0], m[1], m[2], m.length > 3 ? m[3] : 1]; };
const lum = (c) => { const [r, g, b] = c.slice(0, 3).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3])).concat([1]);
function background(el) {
  const layers = [];
  for (let e = el; e; e = e.parentElement) { const c = rgba(getComputedStyle(e).backgroundColor); if (c[3] > 0) layers.push(c); if (c[3] >= 1) break; }
  return layers.reverse().reduce((under, top) => over(top, under), [255, 255, 255, 1]);
}
const failures = [];
for (const el of document.querySelectorAll('body *')) {
  const text = Array.from(el.childNodes).filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
  if (!text || !el.getClientRects().length || el.closest('[hidden]')) continue;
  const style = getComputedStyle(el);
  if (style.visibility !== 'visible' || el.closest('[aria-disabled=true]') || el.getBoundingClientRect().left < -100) continue;
  const bg = background(el), fg = over(rgba(style.color), bg);
  const [hi, lo] = [lum(fg), lum(bg)].sort((a, b) => b - a);
  const ratio = (hi + 0.05) / (lo + 0.05);
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight, 10) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < needed) failures.push(text.slice(0, 30) + ' ' + ratio.toFixed(2) + ':1');
}
return failures;
"""


def contrast(driver, where):
    failures = driver.execute_script(CONTRAST)
    check(not failures, f"{where}: every text has the contrast WCAG AA asks (4.5:1, 3:1 large) {failures}")


def emulate(driver, width, height=740):
    """A phone's viewport (or a desktop window at 400 % zoom): CSS pixels, as a device reports them."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})


def no_sideways_scroll(driver, width, what):
    """Nothing wider than the viewport: every code box, the legend and the page itself fit."""
    emulate(driver, width)
    measured = driver.execute_script(
        "const right = (q) => Math.max(0, ...Array.from(document.querySelectorAll(q), (e) => e.getBoundingClientRect().right));"
        " return [document.documentElement.scrollWidth, right('#code-boxes input'), right('#code-legend'), right('#panel')];")
    check(all(value <= width for value in measured),
          f"at {width} px {what}: no sideways scroll, every code box and the legend on screen (scrollWidth, boxes, legend, panel: {measured})")


# Every element's right edge against the viewport's width without a scrollbar.
PAST_THE_EDGE = """
const width = document.documentElement.clientWidth, past = [];
for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect(); if (r.width && r.right > width + 0.5) past.push(e.id || e.tagName); }
return [width, document.documentElement.scrollWidth, past.slice(0, 6)];
"""


def row_fits(driver, state):
    """At 320 CSS pixels (WCAG 1.4.10), as a phone (overlay scrollbars) and as a desktop window
    with a classic 15-pixel scrollbar (a short window, so that the page scrolls): nothing runs
    past the right edge, the row's actions wrap under its text."""
    for mobile in (True, False):
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 320, "height": 400, "deviceScaleFactor": 1, "mobile": mobile})
        width, scroll, past = driver.execute_script(PAST_THE_EDGE)
        check(scroll <= width and not past,
              f"at 320 px ({'phone' if mobile else 'desktop, classic scrollbar'}), {state}: no sideways scroll, nothing past the edge"
              f" (clientWidth {width}, scrollWidth {scroll}, past it: {past})")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def paste(driver, text):
    """Ctrl+V of text put on the real clipboard, into the focused element."""
    done = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        " navigator.clipboard.writeText(arguments[0]).then(() => done('ok'), (error) => done(String(error)));", text)
    ActionChains(driver).key_down(Keys.CONTROL).send_keys("v").key_up(Keys.CONTROL).perform()
    return done


def allow_clipboard(driver, page):
    origin = "/".join(page.split("/")[:3])
    driver.execute_cdp_cmd("Browser.grantPermissions",
                           {"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})


# The page's /status answers passed through window.__status(data) when it is set: the server's
# clock cannot be hurried, so a QR code's expiry or a lock's end is moved a few seconds ahead.
STATUS_FILTER = (
    "if (!window.__realFetch) { window.__realFetch = window.fetch; window.fetch = async (url, options) => {"
    " const response = await window.__realFetch(url, options);"
    " if (!window.__status || !String(url).endsWith('/status') || response.status !== 200) return response;"
    " const data = await response.json(); window.__status(data);"
    " return new Response(JSON.stringify(data), {status: response.status, headers: response.headers}); }; }")


def reread_status(driver):
    """As when the tab becomes visible again: the page reads the status."""
    driver.execute_script("document.dispatchEvent(new Event('visibilitychange'))")


def leave_and_return(driver):
    """Another tab in front, closed: this tab is visible again."""
    this_tab = driver.current_window_handle
    driver.switch_to.new_window("tab")
    driver.close()
    driver.switch_to.window(this_tab)
    driver.execute_cdp_cmd("Page.bringToFront", {})


def shown_minute(text):
    """The end time in 'locked until Dec 1, 2026, 11:24 AM UTC' (the browser runs in UTC)."""
    import re
    from datetime import datetime, timezone
    found = re.search(r"locked until (\w+ \d+, \d{4}, \d+:\d\d\s*[AP]M) UTC", text.replace("\u202f", " "))
    return found and datetime.strptime(found.group(1), "%b %d, %Y, %I:%M %p").replace(tzinfo=timezone.utc)


def box_values(driver):
    return "".join(box.get_attribute("value") for box in driver.find_elements(By.CSS_SELECTOR, "#code-boxes input"))


def active_id(driver):
    element = driver.switch_to.active_element
    return element.get_attribute("id") or element.tag_name


def row_ends_with_full_stop(driver):
    text = driver.find_element(By.ID, "totp-state").text
    check(text.endswith("."), f"the row's text is a sentence ending with a full stop ({text!r})")


def type_code(driver, code, double_click=False):
    """Click the first box and type, as a person would; the page moves focus box to box."""
    boxes = driver.find_elements(By.CSS_SELECTOR, "#code-boxes input")
    boxes[0].click()
    for digit in code:
        driver.switch_to.active_element.send_keys(digit)
    verify = driver.find_element(By.ID, "verify")
    if double_click:
        ActionChains(driver).double_click(verify).perform()
    else:
        verify.click()


def message(driver, wait, contains):
    try:
        wait.until(EC.text_to_be_present_in_element((By.ID, "messages"), contains))
        return True
    except Exception:
        print("  messages:", driver.find_element(By.ID, "messages").text)
        return False


def visible_qr(wait):
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#qr svg")))


def dense(driver, wait, args):
    """The longest names a server accepts make a dense QR code (version 30 and more): the page
    must still draw it large enough for a scanner, and its code must still activate it."""
    driver.get(args.url)
    wait.until(EC.element_to_be_clickable((By.ID, "add"))).click()
    visible_qr(wait)
    uri = decode_qr(driver, f"{args.work}/dense.png")
    issuer = uri and urllib.parse.parse_qs(urllib.parse.urlparse(uri).query).get("issuer", [None])[0]
    check(issuer == args.dense, f"zbarimg reads the dense QR code of a {len(args.dense)}-character issuer off the screenshot")
    # zbarimg reads a perfect screenshot at under 2 pixels a module; a phone's camera pointed at
    # a screen needs about 3 or more.
    pixels = driver.execute_script(
        "const svg = document.querySelector('#qr svg');"
        "return svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;")
    check(pixels >= 3, f"it is drawn at {pixels:.2f} pixels a module (at least 3, for a camera)")
    if uri is None:
        return
    # This server issues 8-digit codes, the widest the API allows: they fit a phone too.
    count = len(driver.find_elements(By.CSS_SELECTOR, "#code-boxes input"))
    check(count == 8, f"{count} code boxes for an 8-digit secret")
    # With the key shown as text, under the longest account name (one word of 128 characters).
    driver.find_element(By.ID, "reveal-key").click()
    wait.until(EC.visibility_of_element_located((By.ID, "key-text")))
    no_sideways_scroll(driver, 360, "with 8 digits and a dense QR code")
    no_sideways_scroll(driver, 320, "with 8 digits and a dense QR code")
    driver.save_screenshot(f"{args.work}/dense-320.png")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    remember_secret(args.work, uri)
    # Pasted as an app groups 8 digits ("1234 5678"): all 8 are taken.
    allow_clipboard(driver, args.url)
    # This server's secrets are SHA256 with a 60-second step: the code of an app that ignores
    # both (SHA1, 30 seconds) is wrong, and the message says why it may be, not only the clock.
    query = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)
    ignored = subprocess.run(["oathtool", "--totp", "-b", "-d", "8", query["secret"][0]], capture_output=True, text=True, check=True).stdout.strip()
    if ignored != totp(uri):
        driver.find_elements(By.CSS_SELECTOR, "#code-boxes input")[0].click()
        paste(driver, ignored)
        driver.find_element(By.ID, "verify").click()
        check(message(driver, wait, "asks for 8-digit SHA256 codes every 60 seconds, which some apps ignore"),
              "a wrong code for an 8-digit SHA256, 60-second secret says that some apps ignore those settings")
    code = totp(uri)
    driver.find_elements(By.CSS_SELECTOR, "#code-boxes input")[0].click()
    pasted = paste(driver, code[:4] + " " + code[4:])
    check(box_values(driver) == code, f"the code pasted as '1234 5678' fills all 8 boxes ({pasted}: {box_values(driver)!r})")
    driver.find_element(By.ID, "verify").click()
    check(message(driver, wait, "enabled"), "its code from oathtool enables it")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--work", required=True)
    parser.add_argument("--screenshot")
    parser.add_argument("--dense", metavar="ISSUER", help="only the dense-QR-code check, against a server with this --issuer")
    args = parser.parse_args()

    driver = browser()
    wait = WebDriverWait(driver, 15)
    try:
        if args.dense:
            dense(driver, wait, args)
            return
        # Without a token in the address: the sign-in form, focused, takes one.
        page, token = args.url.split("#token=", 1)
        driver.get(page)
        field = wait.until(EC.visibility_of_element_located((By.ID, "token")))
        check(driver.switch_to.active_element == field, "without a token the sign-in form is shown and focused")
        contrast(driver, "the sign-in form")
        field.send_keys("not-a-token")
        field.send_keys(Keys.TAB, Keys.ENTER)
        check(message(driver, wait, "was not accepted"), "a bad token is refused with a message for people (the API's reason goes to the console)")
        field = wait.until(EC.visibility_of_element_located((By.ID, "token")))
        field.clear()
        field.send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        wait.until(EC.element_to_be_clickable((By.ID, "add")))
        check(driver.find_element(By.ID, "who").text == "Signed in as josé", "a pasted token signs in, its UTF-8 subject shown as sent")
        check(message(driver, wait, "Signed in as josé.") and active_id(driver) == "add",
              f"signing in with the form says so (for a screen reader) and moves focus to '+' (focus on {active_id(driver)!r})")

        # With the token in the address fragment, as `enroll serve --demo` prints it.
        driver.get(args.url)
        add = wait.until(EC.element_to_be_clickable((By.ID, "add")))
        check("#token=" not in driver.current_url, "the token is removed from the address bar")
        check(message(driver, wait, "Signed in as josé.") and active_id(driver) == "add",
              f"signing in through the address says so and moves focus to '+', as the form does (focus on {active_id(driver)!r})")
        check(driver.find_element(By.ID, "totp-row").get_attribute("data-state") == "none", "the row starts as not set up")
        check(add.get_attribute("aria-label") == "+ Add authenticator app", "'+' has an accessible name that begins with its visible label (WCAG 2.5.3)")
        row_fits(driver, "not set up")

        # "+", double-clicked: one request, one secret (a second one would discard the first).
        row_ends_with_full_stop(driver)
        ActionChains(driver).double_click(add).perform()
        visible_qr(wait)
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("aria-busy") is None)
        time.sleep(0.3)
        check(recorded(page, token, "EnrollmentRequested") == 1, "a double click on '+' issues one secret (one EnrollmentRequested in the history)")
        first_png = f"{args.work}/first.png"
        uri = decode_qr(driver, first_png)
        check(uri is not None and uri.startswith("otpauth://totp/"), f"zbarimg reads an otpauth URI off the screenshot ({uri and uri.split('?')[0]})")
        if uri is None:
            return
        remember_secret(args.work, uri)
        if args.screenshot:
            shutil.copyfile(first_png, args.screenshot)
        digits = int(urllib.parse.parse_qs(urllib.parse.urlparse(uri).query).get("digits", ["6"])[0])
        boxes = driver.find_elements(By.CSS_SELECTOR, "#code-boxes input")
        check(len(boxes) == digits, f"{digits} code boxes for a {digits}-digit secret")
        check(all(box.get_attribute("aria-label") for box in boxes), "every code box has a label")
        check(driver.switch_to.active_element == boxes[0], "focus is on the first code box")
        contrast(driver, "the QR code with Verify")
        row_fits(driver, "a QR code waiting for its code")

        # Correcting one digit replaces it; the others stay where they were.
        for key in "123456"[:digits]:
            driver.switch_to.active_element.send_keys(key)
        ActionChains(driver).click(boxes[2]).send_keys("9").perform()
        check(box_values(driver)[:4] == "1294", f"clicking the third box and typing 9 replaces its digit ({box_values(driver)})")
        check(driver.switch_to.active_element == boxes[3], "and focus moves to the fourth box")
        ActionChains(driver).send_keys(Keys.ARROW_LEFT, Keys.ARROW_LEFT, "7").perform()
        check(box_values(driver)[:4] == "1794", f"going back with the arrow keys and typing 7 replaces the second digit ({box_values(driver)})")
        # A second click into the focused last box may put the caret before its digit: Backspace
        # still clears that digit, and only that one.
        before = box_values(driver)
        ActionChains(driver).click(boxes[-1]).pause(0.2).click(boxes[-1]).send_keys(Keys.BACKSPACE).perform()
        check(len(before) == digits and box_values(driver) == before[:-1] and boxes[-1].get_attribute("value") == "",
              f"Backspace clears the last box after a click into it ({before!r} -> {box_values(driver)!r})")
        for box in boxes:
            box.clear()

        # A code pasted or autofilled as the app groups it ("123 456", "123-456", spaces at
        # either end), inside a sentence that holds another number, or in the digits another
        # keyboard types (full-width from a Japanese one, Arabic-Indic): every digit of the code
        # lands in the boxes, as ASCII, none cut off by a box's length.
        allow_clipboard(driver, page)
        grouped = "12345678"[:digits]
        other = lambda zero: "".join(chr(zero + int(d)) for d in grouped)
        for pasted in (grouped[:3] + " " + grouped[3:], " " + grouped[:3] + "-" + grouped[3:] + " ",
                       f"Code 2: {grouped[:3]} {grouped[3:]}", f"Code 2:{grouped} sent 2026-11-29 10:30", other(0xFF10)):
            boxes[0].click()
            how = paste(driver, pasted)
            check(box_values(driver) == grouped, f"pasting {pasted!r} fills the boxes with {grouped} ({how}: {box_values(driver)!r})")
            for box in boxes:
                box.clear()
        # More digits than the code has: refused and said, not cut to fit (which would spend an
        # attempt on a code nobody typed).
        boxes[0].click()
        paste(driver, "1234567890"[:digits + 1])
        check(box_values(driver) == "" and str(digits + 1) + " digits" in driver.find_element(By.ID, "code-error").text,
              f"pasting {digits + 1} digits fills nothing and says the code has {digits} ({driver.find_element(By.ID, 'code-error').text!r})")
        for autofill in (grouped[:2] + " " + grouped[2:4] + " " + grouped[4:], other(0x660)):
            boxes[0].click()
            driver.execute_cdp_cmd("Input.insertText", {"text": autofill})
            check(box_values(driver) == grouped, f"an autofill of {autofill!r} fills the boxes with {grouped} ({box_values(driver)!r})")
            for box in boxes:
                box.clear()

        # "Can't scan?": the key as text, fetched (and recorded as a text reveal) only when asked.
        reveal = driver.find_element(By.ID, "reveal-key")
        check(reveal.is_displayed() and reveal.get_attribute("aria-expanded") == "false", "under the QR code: 'Can't scan? Enter this key instead', collapsed")
        check(recorded(page, token, "QRCodeRevealed", shownAs="text") == 0, "the key is not fetched before it is asked for")
        reveal.click()
        key = wait.until(EC.visibility_of_element_located((By.ID, "key-text"))).text
        secret = urllib.parse.parse_qs(urllib.parse.urlparse(uri).query)["secret"][0]
        groups = key.split(" ")
        check(key.replace(" ", "") == secret and all(len(g) == 4 for g in groups[:-1]) and 0 < len(groups[-1]) <= 4,
              f"pressed, it shows the QR code's secret (as zbarimg read it) in groups of four ({len(groups)} groups)")
        check(reveal.get_attribute("aria-expanded") == "true", "and says it is expanded")
        check("josé" in driver.find_element(By.ID, "key-account").text, "with the account name to enter")
        check(recorded(page, token, "QRCodeRevealed", shownAs="text") == 1, "the history records it once, as a reveal shown as text")
        contrast(driver, "the key shown as text")
        boxes[0].click()

        # A wrong code first: a clear message, and the boxes are cleared.
        right = totp(uri)
        wrong = "".join("1" if c != "1" else "2" for c in right)
        type_code(driver, wrong)
        check(message(driver, wait, "not correct"), "a wrong code says the code is not correct")
        check("attempts left" in driver.find_element(By.ID, "messages").text, "and how many attempts are left")

        # The server out of reach at Verify: said beside the boxes too (on a phone the message at
        # the top is off screen), and nothing is lost: the code stays typed for another try.
        driver.execute_script("const real = window.fetch; window.fetch = () => { window.fetch = real;"
                              " return Promise.reject(new TypeError('Failed to fetch')); };")
        for box in driver.find_elements(By.CSS_SELECTOR, "#code-boxes input"):
            box.clear()
        type_code(driver, wrong)
        wait.until(EC.text_to_be_present_in_element((By.ID, "code-error"), "cannot be reached"))
        check(driver.find_element(By.ID, "code-error").is_displayed() and box_values(driver) == wrong,
              f"Verify with the server out of reach says so beside the boxes, the code kept ({box_values(driver)!r})")
        for box in driver.find_elements(By.CSS_SELECTOR, "#code-boxes input"):
            box.clear()

        # The right code, its answer slower than the page waits (a server waiting for a lock): the
        # page cannot know whether it took effect and says so; pressing Verify again sends the same
        # Idempotency-Key, and the server answers with what it did the first time.
        driver.execute_script(
            "window.__answerTimeoutMs = 500; const real = window.fetch;"
            " window.fetch = (url, options) => { window.fetch = real; return new Promise((resolve, reject) => {"
            "   options.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));"
            "   real(url, Object.assign({}, options, { signal: undefined })).then((r) => setTimeout(() => resolve(r), 2000), reject); }); };")
        type_code(driver, totp(uri))
        wait.until(EC.text_to_be_present_in_element((By.ID, "code-error"), "not known whether this took effect"))
        check(True, "an answer slower than the page waits says it is not known whether Verify took effect")
        time.sleep(2)
        driver.execute_script("delete window.__answerTimeoutMs;")
        driver.find_element(By.ID, "verify").click()
        check(message(driver, wait, "enabled"), "Verify with oathtool's code: 'Authenticator app enabled' (the second press answered with the first's outcome)")
        check(recorded(page, token, "AuthenticatorActivated") == 1, "and the server activated it once")
        wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("data-state") == "active")
        check(driver.find_element(By.ID, "totp-state").text.startswith("Enabled"), "the row says Enabled")
        styled = driver.find_elements(By.CSS_SELECTOR, "#totp-state .enabled")
        check(len(styled) == 1 and styled[0].text == "Enabled.", "only 'Enabled.' is in the success style, not what follows it")
        row_fits(driver, "enabled")
        row_ends_with_full_stop(driver)
        check(not driver.find_element(By.ID, "panel").is_displayed(), "the QR code is hidden after enabling")
        check(not driver.find_element(By.ID, "key-text").text, "and so is the key")

        # The eye icon shows the same QR code again, and pressed again hides it.
        eye = driver.find_element(By.ID, "view")
        check(eye.get_attribute("aria-expanded") == "false" and eye.get_attribute("aria-controls") == "panel", "the eye is a collapsed disclosure of the QR code")
        reveals = recorded(page, token, "QRCodeRevealed")
        eye.click()
        visible_qr(wait)
        again = decode_qr(driver, f"{args.work}/eye.png")
        check(again == uri, "the eye icon shows the same QR code")
        check(not driver.find_element(By.ID, "verify-form").is_displayed(), "no code is asked for an active secret")
        check(not driver.find_element(By.ID, "reveal-key").is_displayed(), "nor offered as text (only a secret awaiting its code is)")
        check(not driver.find_element(By.ID, "cancel-regenerate").is_displayed(), "nor a Cancel Regenerate (nothing from Regenerate waits)")
        check(eye.get_attribute("aria-expanded") == "true" and eye.get_attribute("aria-label") == "Hide QR code", "the eye now says it hides the QR code")
        eye.click()
        wait.until(EC.invisibility_of_element_located((By.ID, "panel")))
        check(eye.get_attribute("aria-expanded") == "false" and active_id(driver) == "view", "pressed again it hides the QR code and keeps the focus")
        check(recorded(page, token, "QRCodeRevealed") == reveals + 1, "showing and hiding records one reveal")

        # Another window presses Regenerate; the eye here then shows that new QR code, and its
        # help says so (from the answer, not from the row as this page last read it).
        check(api(page, token, "POST", '{"action":"REFRESH"}') == 200, "(another window presses Regenerate)")
        driver.find_element(By.ID, "view").click()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        check("new QR code from Regenerate" in driver.find_element(By.ID, "panel-help").text,
              "the eye then shows the other window's new QR code as the one from Regenerate, not as the current app's")
        wait.until(EC.text_to_be_present_in_element((By.ID, "totp-state"), "waits for a code"))
        check("current app keeps working" in driver.find_element(By.ID, "totp-state").text,
              "the row says the current app keeps working while the new QR code waits, and what happens if nothing is verified")

        # Cancel Regenerate: the new QR code is discarded (recorded), the current app stays in use.
        cancel = driver.find_element(By.ID, "cancel-regenerate")
        check(cancel.is_displayed(), "a new QR code from Regenerate offers Cancel Regenerate")
        # Pressed with Enter twice, the second press a moment after the answer has moved the focus
        # to Regenerate: the second press starts nothing (no new secret nobody asked for).
        regenerated = recorded(page, token, "SecretRegenerated")
        cancel.send_keys(Keys.ENTER)
        for _ in range(500):
            if active_id(driver) == "regenerate":
                break
            time.sleep(0.01)
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        check(message(driver, wait, "Regenerate cancelled"), "Cancel Regenerate says the current app entry keeps working")
        check(message(driver, wait, "if your app replaced its current entry with it, press the eye icon"),
              "and how to get the current entry back in an app that replaced it with the new one")
        wait.until(EC.invisibility_of_element_located((By.ID, "panel")))
        wait.until(EC.text_to_be_present_in_element((By.ID, "totp-state"), "Enabled"))
        check("waits" not in driver.find_element(By.ID, "totp-state").text, "the row no longer says a new QR code waits")
        check(recorded(page, token, "ReplacementCancelled") == 1, "the history records the cancel once (ReplacementCancelled)")
        check(active_id(driver) == "regenerate", "the focus goes to Regenerate, not to the page body")
        time.sleep(1)
        check(recorded(page, token, "SecretRegenerated") == regenerated and not driver.find_element(By.ID, "panel").is_displayed(),
              "a second Enter right after the cancel's answer does not press Regenerate, where the focus went")
        driver.find_element(By.ID, "view").click()
        visible_qr(wait)
        check(decode_qr(driver, f"{args.work}/after-cancel.png") == uri, "after the cancel the eye shows the current app's QR code again")
        check(not driver.find_element(By.ID, "verify-form").is_displayed(), "and asks for no code")
        driver.find_element(By.ID, "close-panel").click()

        # Regenerate, double-clicked: one new secret; the old secret's code is refused, the new one enables it.
        regenerated = recorded(page, token, "SecretRegenerated")
        ActionChains(driver).double_click(driver.find_element(By.ID, "regenerate")).perform()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        visible_qr(wait)
        wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("aria-busy") is None)
        time.sleep(0.3)
        check(recorded(page, token, "SecretRegenerated") == regenerated + 1, "a double click on Regenerate issues one new secret")
        new_uri = decode_qr(driver, f"{args.work}/regenerated.png")
        check(new_uri is not None and new_uri != uri, "Regenerate shows a different QR code")
        if new_uri is None:
            return
        remember_secret(args.work, new_uri)
        row_fits(driver, "a new QR code from Regenerate waiting")
        old_code, new_code = totp(uri), totp(new_uri)
        if old_code != new_code:
            type_code(driver, old_code)
            check(message(driver, wait, "added last"), "the old secret's code is refused, and the message says which of the app's two entries to read")
        type_code(driver, totp(new_uri))
        check(message(driver, wait, "now in use"), "the new secret's code enables it")
        check("Delete the older \u201cEnrollment (josé)\u201d entry" in driver.find_element(By.ID, "messages").text,
              "and the page says to delete the app's older entry, by the name the app shows")
        wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("data-state") == "active")
        driver.find_element(By.ID, "view").click()
        visible_qr(wait)
        check(decode_qr(driver, f"{args.work}/eye-new.png") == new_uri, "the eye icon now shows the new QR code")
        driver.find_element(By.ID, "close-panel").click()

        # Escape cancels the "Remove?" dialog and gives the focus back to Remove.
        driver.find_element(By.ID, "remove").send_keys(Keys.ENTER)
        wait.until(EC.visibility_of_element_located((By.ID, "remove-yes")))
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait.until(EC.invisibility_of_element_located((By.ID, "remove-yes")))
        check(driver.switch_to.active_element.get_attribute("id") == "remove", "Escape closes the Remove dialog and focus returns to Remove")

        # Remove, from the keyboard: focus Remove, Enter, then confirm.
        driver.find_element(By.ID, "remove").send_keys(Keys.ENTER)
        wait.until(EC.visibility_of_element_located((By.ID, "remove-yes")))
        driver.switch_to.active_element.send_keys(Keys.SHIFT, Keys.TAB)
        check(driver.switch_to.active_element.get_attribute("id") == "remove-yes", "Shift+Tab from Cancel reaches 'Yes, remove'")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        check(message(driver, wait, "removed"), "Remove says the authenticator app was removed")
        wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("data-state") == "none")
        check(driver.find_element(By.ID, "add").is_displayed(), "'+' is offered again")

        # Too many wrong codes: the lock is explained with its end time.
        driver.find_element(By.ID, "add").click()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        visible_qr(wait)
        third = decode_qr(driver, f"{args.work}/third.png")
        check(third is not None, "'+' after Remove shows a QR code again")
        if third is None:
            return
        remember_secret(args.work, third)
        right = totp(third)
        wrong = "".join("1" if c != "1" else "2" for c in right)
        # On a phone's width every code box and the QR code stay on screen (no sideways scroll),
        # down to 320 CSS pixels (WCAG 1.4.10: a 1280-pixel window at 400 %).
        no_sideways_scroll(driver, 320, f"with {digits} digits")
        no_sideways_scroll(driver, 360, f"with {digits} digits")
        # There, the QR code and the boxes fill the screen: a refused code is said beside them.
        driver.execute_script("document.getElementById('verify').scrollIntoView({block: 'end'})")
        type_code(driver, wrong)
        check(message(driver, wait, " 4 attempt"), "a wrong code: 4 left")
        seen = driver.execute_script(
            "const e = document.getElementById('code-error'), r = e.getBoundingClientRect();"
            " return [e.textContent, r.top >= 0 && r.bottom <= window.innerHeight];")
        check("not correct" in seen[0] and seen[1], f"on a 360-px phone the refusal is on screen beside the code boxes ({seen})")
        first_box = driver.find_element(By.CSS_SELECTOR, "#code-boxes input")
        check(first_box.get_attribute("aria-invalid") == "true" and "code-error" in (first_box.get_attribute("aria-describedby") or ""),
              "the code boxes are marked invalid and described by the refusal")
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        # A request that fails after a moment, as when the server has stopped: Verify says so and
        # keeps the keyboard where it was (a button disabled meanwhile would drop it to the body).
        driver.execute_script(
            "const real = window.fetch; window.fetch = () => new Promise((resolve, reject) =>"
            " setTimeout(() => { window.fetch = real; reject(new TypeError('Failed to fetch')); }, 400));")
        type_code(driver, wrong)
        check(message(driver, wait, "cannot be reached"), "when the server cannot be reached, Verify says so")
        check(active_id(driver) == "verify", f"and the focus stays on Verify, not on the page's body ({active_id(driver)})")
        for remaining in (3, 2, 1):
            # The first of these double-clicked: one attempt counted, not two.
            type_code(driver, wrong, double_click=remaining == 3)
            check(message(driver, wait, f" {remaining} attempt"), f"a wrong code: {remaining} left")
        type_code(driver, wrong)
        check(message(driver, wait, "locked until"), "the fifth wrong code says verification is locked until a time")
        # The lock (15 minutes) outlasts the QR code (10): the page does not invite a retry with it.
        check("expires before then" in driver.find_element(By.ID, "messages").text, "the lock's message says the QR code expires before the lock ends")
        wait.until(EC.text_to_be_present_in_element((By.ID, "totp-state"), "locked until"))
        check("locked until" in driver.find_element(By.ID, "totp-state").text, "the row shows the lock's end")
        check(not driver.find_element(By.ID, "panel").is_displayed() and active_id(driver) == "remove",
              f"so the QR code and its boxes go, and the focus is on the row's next action ({active_id(driver)})")
        # The lock's end, shown to the minute, is not before the real end (so "try again after
        # that time" is true).
        from datetime import datetime
        real_end = datetime.fromisoformat(api_json(page, token, "/status")["lockedUntil"].replace("Z", "+00:00"))
        for where in ("messages", "totp-state"):
            shown_end = shown_minute(driver.find_element(By.ID, where).text)
            check(shown_end is not None and shown_end >= real_end,
                  f"the {where} shows the lock's end rounded up, {shown_end and shown_end.time()}, not before {real_end.time()}")
        # The eye does not bring back, as ready to scan, the QR code the lock outlasts.
        check(not driver.find_element(By.ID, "view").is_displayed(), "the eye no longer offers the QR code the lock outlasts")
        check("can no longer be confirmed" in driver.find_element(By.ID, "totp-state").text, "and the row says it can no longer be confirmed")

        # A lock that ends before the QR code expires (its end moved 4 s ahead in /status): the
        # page refuses a code itself until then, and at the end the row and the messages follow.
        driver.execute_script(STATUS_FILTER + " const ends = new Date(Date.now() + 4000).toISOString();"
                              " window.__status = (data) => { if (Date.now() < Date.parse(ends)) data.lockedUntil = ends; else delete data.lockedUntil; };")
        reread_status(driver)
        wait.until(EC.element_to_be_clickable((By.ID, "view"))).click()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        time.sleep(0.3)
        driver.execute_script("performance.clearResourceTimings()")
        type_code(driver, totp(third))
        check(message(driver, wait, "locked until"), "even the right code is refused while locked")
        sent = driver.execute_script("return performance.getEntriesByType('resource').filter((e) => e.initiatorType === 'fetch').length")
        check(sent == 0, f"by the page itself, which knows the lock's end: nothing is sent ({sent} requests)")
        check("locked until" in driver.find_element(By.ID, "totp-state").text, "(the row shows the lock)")
        try:
            WebDriverWait(driver, 8).until(lambda d: "locked" not in d.find_element(By.ID, "totp-state").text)
        except Exception:
            pass
        check("locked" not in driver.find_element(By.ID, "totp-state").text and not driver.find_element(By.ID, "code-error").is_displayed(),
              f"when the lock ends, the row and the refusal beside the boxes no longer say it is locked ({driver.find_element(By.ID, 'totp-state').text!r})")
        check(message(driver, wait, "no longer locked"), "and the page says verification is no longer locked")

        # A reload says why it asks to sign in again; signing out leaves no token in the form.
        driver.refresh()
        check(message(driver, wait, "signed out because the page was reloaded"), "a reload says why the page asks to sign in again")
        check(api(page, token, "DELETE") == 204, "(another window removes the locked enrollment)")
        field = wait.until(EC.visibility_of_element_located((By.ID, "token")))
        field.send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        wait.until(EC.visibility_of_element_located((By.ID, "signout")))
        check(driver.find_element(By.ID, "token").get_attribute("value") == "", "signing in leaves no token in the form")

        # Another window asks for a new QR code: the right code from the one shown here is
        # answered with what happened, not "check your phone's clock".
        wait.until(EC.element_to_be_clickable((By.ID, "add"))).click()
        visible_qr(wait)
        shown = decode_qr(driver, f"{args.work}/stale.png")
        time.sleep(1.1)  # a second later, so the new QR code's expiry differs
        check(api(page, token, "POST", '{"action":"INIT"}') == 200, "(another window presses +)")
        if shown is not None:
            type_code(driver, totp(shown))
            check(message(driver, wait, "replaced by a newer one"), "a code from a QR code replaced elsewhere says the QR code was replaced")
            check(not driver.find_element(By.ID, "panel").is_displayed(), "and the replaced QR code is no longer shown")

        # Removed in another window while a code form is shown: Verify says so, and the focus
        # goes to '+' (the action the message names), not to the page's body.
        driver.find_element(By.ID, "view").click()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        check(api(page, token, "DELETE") == 204, "(another window removes the authenticator)")
        type_code(driver, "0" * digits)
        check(message(driver, wait, "No authenticator app is set up"), "Verify then says nothing is set up")
        wait.until(lambda d: d.find_element(By.ID, "add").is_displayed())
        check(active_id(driver) == "add", f"and the focus is on '+' ({active_id(driver)})")

        # An error code this page does not know: a sentence for people and the trace id, never
        # the API's developer text.
        driver.execute_script(
            "const real = window.fetch; window.fetch = (url, options) => (options && options.method === 'POST')"
            " ? (window.fetch = real, Promise.resolve(new Response(JSON.stringify({code: 'code_from_a_later_release',"
            " message: 'developer text', description: 'POST REFRESH then DELETE', traceId: 'trace-4711'}),"
            " {status: 409, headers: {'Content-Type': 'application/json'}}))) : real(url, options);")
        driver.find_element(By.ID, "add").click()
        check(message(driver, wait, "reference trace-4711"), "an unknown error code is answered with a sentence and the trace id")
        shown_text = driver.find_element(By.ID, "messages").text
        check("developer text" not in shown_text and "DELETE" not in shown_text, f"without the API's developer text ({shown_text!r})")

        # A QR code leaves the screen when it expires (its expiry moved 1.5 s ahead in the answer).
        driver.execute_script(
            "const real = window.fetch; window.fetch = async (url, options) => { const response = await real(url, options);"
            " if (!(options && options.method === 'POST')) return response; window.fetch = real; const data = await response.json();"
            " data.expiresAt = new Date(Date.now() + 1500).toISOString().replace(/[.][0-9]+Z$/, 'Z');"
            " return new Response(JSON.stringify(data), {status: response.status, headers: response.headers}); };")
        driver.find_element(By.ID, "add").click()
        visible_qr(wait)
        check(message(driver, wait, "This QR code expired"), "when its time is up, the page says the QR code expired")
        check(not driver.find_element(By.ID, "panel").is_displayed() and active_id(driver) != "body",
              f"and takes it off the screen, the focus on the row ({active_id(driver)})")

        # With the QR code not on screen, the row still follows its expiry (moved 2 s ahead in
        # /status; afterwards /status says it expired): it offers '+' again, untouched.
        driver.execute_script(STATUS_FILTER + " const ends = new Date(Date.now() + 2000).toISOString().replace(/[.][0-9]+Z$/, 'Z');"
                              " window.__status = (data) => { if (Date.now() < Date.parse(ends)) { data.pendingExpiresAt = ends; return; }"
                              " data.status = 'none'; data.pendingExpired = true; data.replacementPending = false; delete data.pendingExpiresAt; };")
        reread_status(driver)
        wait.until(EC.text_to_be_present_in_element((By.ID, "totp-state"), "waiting for a code"))
        try:
            WebDriverWait(driver, 8).until(lambda d: d.find_element(By.ID, "add").is_displayed())
        except Exception:
            pass
        check(driver.find_element(By.ID, "add").is_displayed() and "expired" in driver.find_element(By.ID, "totp-state").text,
              f"at the expiry of a QR code not on screen the row says it expired and offers '+' ({driver.find_element(By.ID, 'totp-state').text!r})")
        driver.execute_script("window.__status = null")
        reread_status(driver)
        wait.until(EC.element_to_be_clickable((By.ID, "view")))

        # The server's answer for a code from a Regenerate QR code that expired meanwhile.
        driver.find_element(By.ID, "view").click()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        driver.execute_script(
            "const real = window.fetch; window.fetch = (url, options) => (options && options.method === 'POST')"
            " ? (window.fetch = real, Promise.resolve(new Response(JSON.stringify({code: 'replacement_expired',"
            " message: 'developer text', description: 'REFRESH', traceId: 'trace-4712'}),"
            " {status: 409, headers: {'Content-Type': 'application/json'}}))) : real(url, options);")
        type_code(driver, "0" * digits)
        check(message(driver, wait, "current app entry still works"), "a code from an expired Regenerate QR code: the current app entry still works")
        check(not driver.find_element(By.ID, "panel").is_displayed(), "and the expired QR code goes")

        # Leaving the page and pressing Back: the back/forward cache must not bring back the
        # signed-in page and its QR code.
        driver.find_element(By.ID, "view").click()
        visible_qr(wait)
        driver.get(page.split("/myaccount")[0] + "/health")
        driver.back()
        # (A browser that keeps no such cache reloads the page instead, which signs out too.)
        check(message(driver, wait, "signed out because"), "Back after leaving the page: signed out, and told why")
        check(driver.find_element(By.ID, "token").is_displayed() and not driver.find_elements(By.CSS_SELECTOR, "#qr svg"),
              "the sign-in form is shown and no QR code is left in the page")

        # Another window verifies the QR code this tab shows after a wrong code here: back in
        # this tab, the QR code goes, and so does the refusal, for what happened.
        driver.get(args.url)
        wait.until(EC.element_to_be_clickable((By.ID, "view"))).click()
        visible_qr(wait)
        elsewhere = decode_qr(driver, f"{args.work}/elsewhere.png")
        if elsewhere is not None:
            remember_secret(args.work, elsewhere)
            type_code(driver, "".join("1" if c != "1" else "2" for c in totp(elsewhere)))
            check(message(driver, wait, "not correct"), "(a wrong code here)")
            code = json.dumps({"action": "VALIDATE", "verificationCode": totp(elsewhere)})
            check(api(page, token, "POST", code) == 200, "(another window verifies the right code)")
            leave_and_return(driver)
            check(message(driver, wait, "set up in another window"), "back in this tab, the message says the app was set up elsewhere")
            said = driver.find_element(By.ID, "messages").text + driver.find_element(By.ID, "code-error").text
            check(not driver.find_element(By.ID, "panel").is_displayed() and "not correct" not in said,
                  f"the QR code is gone and no refusal stays beside 'Enabled.' ({said!r})")
            driver.find_element(By.ID, "view").click()
            visible_qr(wait)

        # Another window removes while this tab shows a QR code: back in this tab, it goes.
        check(api(page, token, "DELETE") == 204, "(another window removes the authenticator)")
        leave_and_return(driver)
        try:
            wait.until(EC.invisibility_of_element_located((By.ID, "panel")))
        except Exception:
            pass
        check(not driver.find_element(By.ID, "panel").is_displayed() and driver.find_element(By.ID, "add").is_displayed(),
              "back in this tab, the removed QR code is gone and '+' is offered")
        check(message(driver, wait, "removed in another window"), "and the message says it was removed elsewhere")

        # A link with another user's token does not switch the account silently.
        claims = base64.urlsafe_b64encode(b'{"sub":"mallory"}').decode().rstrip("=")
        driver.execute_script("window.location.hash = arguments[0]", f"token=eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln")
        offer = wait.until(EC.visibility_of_element_located((By.ID, "switch")))
        check("mallory" in offer.text and active_id(driver) == "switch-no",
              f"a link signing in as another user asks first, focus on 'Stay signed in' ({offer.text!r})")
        driver.switch_to.active_element.send_keys(Keys.ENTER)
        check(message(driver, wait, "still signed in as josé"), "staying keeps the account and says so")
        # Escape stays signed in too, as it cancels the Remove dialog.
        driver.execute_script("window.location.hash = arguments[0]", f"token=eyJhbGciOiJIUzI1NiJ9.{claims}.c2ln")
        wait.until(EC.visibility_of_element_located((By.ID, "switch")))
        driver.switch_to.active_element.send_keys(Keys.ESCAPE)
        check(wait.until(EC.invisibility_of_element_located((By.ID, "switch"))) and driver.find_element(By.ID, "who").text == "Signed in as josé",
              "Escape closes the 'Switch account?' dialog and stays signed in")
        check(driver.find_element(By.ID, "who").text == "Signed in as josé" and "#token=" not in driver.current_url,
              "the token from the link is gone from the address bar, the user unchanged")
        driver.find_element(By.ID, "signout").click()
        wait.until(EC.visibility_of_element_located((By.ID, "token")))
        check(driver.find_element(By.ID, "token").get_attribute("value") == "", "Sign out leaves no token in the form: Continue cannot sign the same user back in")

        # An answer that arrives after Sign out (a slow server) belongs to the session that asked:
        # nothing of it is drawn, and no follow-up request is sent without a token.
        slow = ("const real = window.fetch; window.fetch = async (url, options) => { const response = await real(url, options);"
                " if (options && options.method === 'POST') { window.fetch = real; await new Promise((r) => setTimeout(r, 1200)); }"
                " return response; };")

        def sign_in():
            field = wait.until(EC.visibility_of_element_located((By.ID, "token")))
            field.send_keys(token)
            driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
            wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("data-state") != "unknown"
                       and not d.find_element(By.ID, "security").get_attribute("hidden"))

        sign_in()
        driver.execute_script(slow)
        wait.until(EC.element_to_be_clickable((By.ID, "add"))).click()
        time.sleep(0.3)
        driver.find_element(By.ID, "signout").click()
        time.sleep(1.6)
        said = driver.find_element(By.ID, "messages").text
        check(said == "Signed out." and not driver.find_elements(By.CSS_SELECTOR, "#qr svg"),
              f"an answer to '+' arriving after Sign out draws no QR code and says nothing more ({said!r})")
        # Signed in again (the next person at this computer) while the eye's answer is on its way.
        sign_in()
        driver.execute_script(slow)
        wait.until(EC.element_to_be_clickable((By.ID, "view"))).click()
        time.sleep(0.3)
        driver.find_element(By.ID, "signout").click()
        sign_in()
        time.sleep(1.6)
        check(not driver.find_element(By.ID, "panel").is_displayed() and not driver.find_elements(By.CSS_SELECTOR, "#qr svg"),
              "the eye's answer to the session before is not drawn for the one signed in after it")
    except Exception as error:  # a timeout or a missing element is a failed check, not a crash
        check(False, f"unexpected: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        driver.save_screenshot(f"{args.work}/failure.png")
    finally:
        driver.quit()
        print(f"{results['passed']} passed, {results['failed']} failed")


if __name__ == "__main__":
    main()
    # Here, not in main(): a check that fails and then returns early must still fail the run.
    sys.exit(1 if results["failed"] or not results["passed"] else 0)
