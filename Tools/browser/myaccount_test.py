"""The Authenticator App page in headless Chromium, driven as a person would.

Opens the page with a token, presses "+", reads the QR code off a screenshot with zbarimg,
computes the code with oathtool, types it and presses Verify; checks that the eye icon shows
the same QR code; presses Regenerate, checks that a code from the old secret is refused and one
from the new secret enables it. Independent tools only: zbarimg decodes what the browser drew,
oathtool computes the codes.

Usage: myaccount_test.py URL --work DIR [--screenshot docs/myaccount.png]
Prints 'N passed, N failed' at the end; exits non-zero when a check fails.
"""

import argparse
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
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
    return webdriver.Chrome(service=service, options=options)


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
    now = int(time.time()) + offset
    return subprocess.run(["oathtool", "--totp=" + algorithm, "-b", "-d", digits, "--now", f"@{now}", secret],
                          capture_output=True, text=True, check=True).stdout.strip()


def api(page, token, method, body=None):
    """The TOTP API called directly, as another window or device of the same user would."""
    base = page.split("/myaccount")[0] + "/api/users/v1/me/totp"
    request = urllib.request.Request(base, method=method, data=body.encode() if body else None, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as response:
        return response.status


def type_code(driver, code):
    """Click the first box and type, as a person would; the page moves focus box to box."""
    boxes = driver.find_elements(By.CSS_SELECTOR, "#code-boxes input")
    boxes[0].click()
    for digit in code:
        driver.switch_to.active_element.send_keys(digit)
    driver.find_element(By.ID, "verify").click()


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
    remember_secret(args.work, uri)
    type_code(driver, totp(uri))
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
        field.send_keys("not-a-token")
        field.send_keys(Keys.TAB, Keys.ENTER)
        check(message(driver, wait, "no longer valid"), "a bad token is refused with a message")
        field = wait.until(EC.visibility_of_element_located((By.ID, "token")))
        field.clear()
        field.send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        wait.until(EC.element_to_be_clickable((By.ID, "add")))
        check(driver.find_element(By.ID, "who").text == "Signed in as josé", "a pasted token signs in, its UTF-8 subject shown as sent")

        # With the token in the address fragment, as `enroll serve --demo` prints it.
        driver.get(args.url)
        add = wait.until(EC.element_to_be_clickable((By.ID, "add")))
        check("#token=" not in driver.current_url, "the token is removed from the address bar")
        check(driver.find_element(By.ID, "totp-row").get_attribute("data-state") == "none", "the row starts as not set up")
        check(add.get_attribute("aria-label") == "Add authenticator app", "'+' has an accessible name")

        # "+": the QR code and the code boxes.
        add.click()
        visible_qr(wait)
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
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

        # A wrong code first: a clear message, and the boxes are cleared.
        right = totp(uri)
        wrong = "".join("1" if c != "1" else "2" for c in right)
        type_code(driver, wrong)
        check(message(driver, wait, "not correct"), "a wrong code says the code is not correct")
        check("attempts left" in driver.find_element(By.ID, "messages").text, "and how many attempts are left")

        # The right code.
        type_code(driver, totp(uri))
        check(message(driver, wait, "enabled"), "Verify with oathtool's code: 'Authenticator app enabled'")
        wait.until(lambda d: d.find_element(By.ID, "totp-row").get_attribute("data-state") == "active")
        check(driver.find_element(By.ID, "totp-state").text.startswith("Enabled"), "the row says Enabled")
        check(not driver.find_element(By.ID, "panel").is_displayed(), "the QR code is hidden after enabling")

        # The eye icon shows the same QR code again.
        driver.find_element(By.ID, "view").click()
        visible_qr(wait)
        again = decode_qr(driver, f"{args.work}/eye.png")
        check(again == uri, "the eye icon shows the same QR code")
        check(not driver.find_element(By.ID, "verify-form").is_displayed(), "no code is asked for an active secret")
        driver.find_element(By.ID, "close-panel").click()

        # Regenerate: a new QR code; the old secret's code is refused, the new one enables it.
        driver.find_element(By.ID, "regenerate").click()
        wait.until(EC.visibility_of_element_located((By.ID, "verify")))
        visible_qr(wait)
        new_uri = decode_qr(driver, f"{args.work}/regenerated.png")
        check(new_uri is not None and new_uri != uri, "Regenerate shows a different QR code")
        if new_uri is None:
            return
        remember_secret(args.work, new_uri)
        old_code, new_code = totp(uri), totp(new_uri)
        if old_code != new_code:
            type_code(driver, old_code)
            check(message(driver, wait, "added last"), "the old secret's code is refused, and the message says which of the app's two entries to read")
        type_code(driver, totp(new_uri))
        check(message(driver, wait, "enabled"), "the new secret's code enables it")
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
        # On a phone's width every code box and the QR code stay on screen (no sideways scroll).
        driver.set_window_size(360, 900)
        narrow = driver.execute_script(
            "const r = document.querySelector('#code-boxes input:last-child').getBoundingClientRect();"
            " return [document.documentElement.scrollWidth, window.innerWidth, r.right];")
        check(narrow[0] <= narrow[1] and narrow[2] <= narrow[1], f"at 360 px the page does not scroll sideways and the last code box is on screen ({narrow})")
        driver.set_window_size(1280, 900)
        for remaining in (4, 3, 2, 1):
            type_code(driver, wrong)
            check(message(driver, wait, f" {remaining} attempt"), f"a wrong code: {remaining} left")
        type_code(driver, wrong)
        check(message(driver, wait, "locked until"), "the fifth wrong code says verification is locked until a time")
        # The lock (15 minutes) outlasts the QR code (10): the page does not invite a retry with it.
        check("expires before then" in driver.find_element(By.ID, "messages").text, "the lock's message says the QR code expires before the lock ends")
        wait.until(EC.text_to_be_present_in_element((By.ID, "totp-state"), "locked until"))
        check("locked until" in driver.find_element(By.ID, "totp-state").text, "the row shows the lock's end")
        type_code(driver, totp(third))
        check(message(driver, wait, "locked until"), "even the right code is refused while locked")

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
        driver.find_element(By.ID, "signout").click()
        wait.until(EC.visibility_of_element_located((By.ID, "token")))
        check(driver.find_element(By.ID, "token").get_attribute("value") == "", "Sign out leaves no token in the form: Continue cannot sign the same user back in")
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
