"""Copy the key screenshots of the browser tests into docs/img/, small enough to commit.

Run after the browser tests: `.venv/bin/python tests/browser/docs_images.py`. Each picture is
the first screenful (desktop 1280x800 or phone 360x740) at reduced size, in 64 colours.
"""
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "test-artifacts" / "screenshots"
TARGET = ROOT / "docs" / "img"
CHOSEN = {  # screenshot: (file in docs/img, height of the screenful kept, scale)
    "01-login-desktop": ("login.png", 800, 0.6),
    "02-login-error-captcha-desktop": ("login-error-captcha.png", 800, 0.6),
    "05-lockout-phone": ("lockout-phone.png", 740, 0.8),
    "10-forgot-user-notice-desktop": ("forgot-user-notice.png", 800, 0.6),
    "11-secret-question-desktop": ("secret-question.png", 800, 0.6),
    "13-change-password-checklist-phone": ("change-password-phone.png", 1100, 0.8),
    "07-inactivity-lock-desktop": ("inactivity-lock.png", 800, 0.6),
    "14-home-desktop": ("home.png", 800, 0.6),
    "20-mi-cuenta-phone": ("mi-cuenta-phone.png", 1500, 0.8),
    "16b-link-continue-desktop": ("link-continue.png", 800, 0.6),
    "22-confirmar-correo-desktop": ("confirmar-correo.png", 800, 0.6),
    "30-console-sign-in-desktop": ("console-sign-in.png", 800, 0.6),
    "35-console-enrol-desktop": ("console-enrol.png", 800, 0.6),
    "32-console-results-desktop": ("console-results.png", 800, 0.6),
    "33-console-customer-desktop": ("console-customer.png", 1000, 0.6),
    "34-console-confirm-desktop": ("console-confirm.png", 800, 0.6),
    "37-console-staff-desktop": ("console-staff.png", 800, 0.6),
    "38-console-import-desktop": ("console-import.png", 800, 0.6),
    "39-console-audit-desktop": ("console-audit.png", 800, 0.6),
}


def main():
    TARGET.mkdir(parents=True, exist_ok=True)
    missing = [name for name in CHOSEN if not (SOURCE / f"{name}.png").exists()]
    if missing:
        sys.exit(f"run the browser tests first; missing: {', '.join(missing)}")
    for name, (target, height, scale) in CHOSEN.items():
        with Image.open(SOURCE / f"{name}.png") as shot:
            shot = shot.convert("RGB")
            shot = shot.crop((0, 0, shot.width, min(height, shot.height)))
            shot = shot.resize((round(shot.width * scale), round(shot.height * scale)), Image.LANCZOS)
            shot.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(TARGET / target, optimize=True)
        print(f"{target}: {(TARGET / target).stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
