"""Regenerate docs/images/tui.svg: the app on the bundled model, after one seed.

    python docs/images/screenshot.py [MODEL]
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from rnnplay.session.session import Session
from rnnplay.ui.tui import RnnplayApp

HERE = Path(__file__).resolve().parent


async def main(model: str | None) -> None:
    session = Session.open(model)
    session.submit("/set seed 7")
    session.submit("/set length 320")
    app = RnnplayApp(session)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press(*"ROMEO:")
        await pilot.press("enter")
        await pilot.pause(0.5)
        while session.generating:
            await pilot.pause(0.2)
        await pilot.pause(0.5)
        app.save_screenshot("tui.svg", str(HERE))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else None))
