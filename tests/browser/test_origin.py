"""A page on another site cannot use the visitor's browser to join rooms (Origin allow-list).

Chromium opens a WebSocket to a real `vid2vid-signal` from a page served by another origin (a
second server on another port): closed with 4005. The same script on the server's own page
gets the welcome.
"""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

pytestmark = pytest.mark.browser

SCRIPT = """url => new Promise(resolve => {
    const ws = new WebSocket(url);
    ws.onmessage = m => { resolve(JSON.parse(m.data).type); ws.close(); };
    ws.onclose = e => resolve(e.code);
})"""


def test_a_foreign_page_is_refused_and_the_own_page_is_not(
    chromium_path: str, chromium_args: list[str], signal_server: str
) -> None:
    from playwright.async_api import async_playwright

    ws_url = signal_server.replace("http://", "ws://") + "/ws?room=r&role=viewer"

    async def body() -> None:
        async def elsewhere(request: web.Request) -> web.Response:
            return web.Response(text="<p>another site</p>", content_type="text/html")

        other = web.Application()
        other.router.add_get("/", elsewhere)
        runner = web.AppRunner(other)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        foreign = f"http://127.0.0.1:{runner.addresses[0][1]}/"
        try:
            async with async_playwright() as p:
                browser = await p.chromium.launch(
                    executable_path=chromium_path, headless=True, args=chromium_args
                )
                page = await browser.new_page()
                await page.goto(foreign)
                assert await asyncio.wait_for(page.evaluate(SCRIPT, ws_url), 10) == 4005
                await page.goto(f"{signal_server}/")
                assert await asyncio.wait_for(page.evaluate(SCRIPT, ws_url), 10) == "welcome"
                await browser.close()
        finally:
            await runner.cleanup()

    asyncio.run(body())
