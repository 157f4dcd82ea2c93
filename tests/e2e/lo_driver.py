"""Drive a real LibreOffice through UNO as a person would (run with /usr/bin/python3).

Usage: python3 lo_driver.py instructions.json result.json

instructions: {"template": path, "edits": [[sheet, cell, text], ...],
               "locked": [[sheet, cell, text]],           # typing here must be refused
               "save": {"xlsx": path, "xls": path, "ods": path, "xls-password": path},
               "read": [[sheet, cell], ...]}               # formula results after recalculation
Cells are typed by selecting them and dispatching .uno:EnterString, so sheet
protection applies exactly as it does for a person at the keyboard.

LibreOffice 7.4 (Debian 12) headless sometimes crashes when a document edited
through dispatches is closed, stored as xls or ODS, or refuses a second protected
edit. Each phase therefore runs in its own soffice process, and is tried again
when LibreOffice dies under it: (1) type, recalculate, read, save xlsx; (2) open
the saved xlsx and store it as xls / ODS; (3) try one protected edit on a fresh
copy of the template, never saved.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import uno
from com.sun.star.beans import PropertyValue

FILTERS = {"xlsx": "Calc MS Excel 2007 XML", "xls": "MS Excel 97", "ods": "calc8", "pdf": "calc_pdf_Export"}


def pv(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def url(path):
    return uno.systemPathToFileUrl(os.path.abspath(path))


class Office:
    """One headless soffice with a private profile, connected over a pipe."""

    def __enter__(self):
        self.profile = tempfile.mkdtemp(prefix="lo-profile-")
        pipe = f"wbt{os.getpid()}x{time.monotonic_ns()}"
        self.proc = subprocess.Popen(
            ["soffice", f"-env:UserInstallation={Path(self.profile).as_uri()}", "--headless", "--invisible",
             "--nologo", "--norestore", "--nodefault", f"--accept=pipe,name={pipe};urp;"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        local = uno.getComponentContext()
        resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
        for _ in range(240):
            try:
                self.ctx = resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
                break
            except Exception:
                if self.proc.poll() is not None:
                    raise RuntimeError("soffice exited early")
                time.sleep(0.25)
        else:
            raise RuntimeError("could not connect to soffice")
        smgr = self.ctx.ServiceManager
        self.desktop = smgr.createInstanceWithContext("com.sun.star.frame.Desktop", self.ctx)
        self.dispatcher = smgr.createInstanceWithContext("com.sun.star.frame.DispatchHelper", self.ctx)
        return self

    def open(self, path):
        # a crash on close leaves LibreOffice's lock file behind, and the next load then fails
        stale = os.path.join(os.path.dirname(os.path.abspath(path)), f".~lock.{os.path.basename(path)}#")
        if os.path.exists(stale):
            os.remove(stale)
        doc = self.desktop.loadComponentFromURL(url(path), "_blank", 0, (pv("Hidden", True),))
        if doc is None:
            raise RuntimeError(f"LibreOffice could not open {path}")
        return doc

    def type_into(self, doc, sheet_name, cell, text):
        controller = doc.getCurrentController()
        sheet = doc.Sheets.getByName(sheet_name)
        controller.setActiveSheet(sheet)
        frame = controller.getFrame()
        self.dispatcher.executeDispatch(frame, ".uno:GoToCell", "", 0, (pv("ToPoint", cell),))
        self.dispatcher.executeDispatch(frame, ".uno:EnterString", "", 0, (pv("StringName", text),))
        return sheet.getCellRangeByName(cell)

    def __exit__(self, *exc):
        try:
            self.desktop.terminate()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        return False


def close_quietly(doc):
    try:
        doc.close(True)
    except Exception:
        pass  # the crash-on-close described above: what matters was already saved


def attempt(phase, tries=3):
    """Run one phase in a fresh soffice, again when LibreOffice crashes under it."""
    for n in range(tries):
        try:
            return phase()
        except Exception:  # noqa: BLE001 - a UNO crash surfaces as many exception types
            if n == tries - 1:
                raise
            time.sleep(1)


def main():
    spec = json.load(open(sys.argv[1], encoding="utf-8"))
    result = {"locked_refused": [], "read": {}, "protected": {}}
    saves = spec.get("save", {})
    first = saves.get("xlsx") or os.path.join(tempfile.mkdtemp(), "typed.xlsx")

    def type_read_save():
        with Office() as lo:
            doc = lo.open(spec["template"])
            for sheet_name, cell, text in spec.get("edits", []):
                lo.type_into(doc, sheet_name, cell, text)
            doc.calculateAll()
            for sheet_name, cell in spec.get("read", []):
                c = doc.Sheets.getByName(sheet_name).getCellRangeByName(cell)
                result["read"][f"{sheet_name}!{cell}"] = {"value": c.getValue(), "string": c.getString()}
            result["protected"] = {s.Name: bool(s.isProtected()) for s in doc.Sheets}
            for kind, path in saves.items():
                if kind.endswith("-password"):        # "save with password" as a unit might
                    doc.storeToURL(url(path), (pv("FilterName", FILTERS[kind.split("-")[0]]),
                                               pv("Password", "1234")))
            doc.storeToURL(url(first), (pv("FilterName", FILTERS["xlsx"]),))
            close_quietly(doc)

    attempt(type_read_save)
    for kind in ("xls", "ods"):
        if kind in saves:
            def convert(kind=kind):
                with Office() as lo:
                    # LibreOffice 7.4 crashes storing xls/ods from a document edited through dispatches
                    # in a hidden frame; the same document re-opened from its xlsx save stores fine.
                    doc = lo.open(first)
                    doc.storeToURL(url(saves[kind]), (pv("FilterName", FILTERS[kind]),))
                    close_quietly(doc)
            attempt(convert)
    if spec.get("locked"):
        def refused_edit():
            result["locked_refused"] = []
            with Office() as lo:
                doc = lo.open(spec["template"])
                for sheet_name, cell, text in spec["locked"][:1]:
                    before = doc.Sheets.getByName(sheet_name).getCellRangeByName(cell).getString()
                    after = lo.type_into(doc, sheet_name, cell, text).getString()
                    result["locked_refused"].append(after == before and after != text)
                close_quietly(doc)
        attempt(refused_edit)
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False)


if __name__ == "__main__":
    main()
