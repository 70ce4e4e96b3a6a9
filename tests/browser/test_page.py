"""The demo page in chromium against a real `vid2vid-signal`, without the media parts.

It joins as a viewer, offers to a receiver that joins (recvonly video + "control" channel, only
the allowed host candidates), drops it on bye, shows refusals and moves the free-view sliders.
The full call (sender + receiver + page) is test_demo_e2e.py.
"""

from __future__ import annotations

import asyncio

import pytest

from vid2vid.signaling.client import SignalingClient

pytestmark = pytest.mark.browser


async def _wait(page, expression: str, timeout_ms: int = 10000) -> None:
    # As a function, not a string: the page's CSP forbids string eval.
    await page.wait_for_function(f"() => ({expression})", timeout=timeout_ms)


@pytest.mark.parametrize("signal_server", [["--room-token", "secret=abc"]], indirect=True)
def test_page_joins_offers_to_a_receiver_and_drives_free_view(
    chromium_path: str, chromium_args: list[str], signal_server: str
) -> None:
    from playwright.async_api import async_playwright

    async def body() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=chromium_path, headless=True, args=chromium_args
            )
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))

            await page.goto(f"{signal_server}/room/lobby?ice=127.0.0.1")
            await _wait(page, "window.vid2vidDemo && vid2vidDemo.peerId !== null")
            assert await page.inner_text("#room-name") == "lobby"
            assert await page.inner_text("#st-signaling") == "open"
            assert await page.inner_text("#st-receiver") == "waiting"
            # No receiver stats yet: no call state, and no claim about its model either way.
            assert await page.inner_text("#st-call") == "–"
            assert not await page.is_visible("#model-badge")
            assert await page.evaluate("vid2vidDemo.model") is None

            # A receiver joins: the page offers to it through the server.
            receiver = SignalingClient(signal_server, room="lobby", role="receiver")
            try:
                welcome = await receiver.connect()
                assert [p.role for p in welcome.peers] == ["viewer"]
                offer = await asyncio.wait_for(receiver.receive(), timeout=10)
                assert offer.type == "signal" and offer.role == "viewer"
                assert offer.data["sdp_type"] == "offer"
                sdp = offer.data["sdp"]
                assert "m=video" in sdp and "a=recvonly" in sdp
                assert "m=application" in sdp and "webrtc-datachannel" in sdp
                candidates = [line for line in sdp.splitlines() if line.startswith("a=candidate:")]
                assert all(line.split()[4] == "127.0.0.1" for line in candidates), candidates
                assert await page.inner_text("#st-receiver") == "connecting"

                # The receiver says bye: the page drops it and waits again.
                await receiver.send(offer.peer_id, {"bye": True})
                await _wait(page, "vid2vidDemo.receiver === 'waiting'")
            finally:
                await receiver.close()

            # Free view: sliders show their values; reset returns to zero.
            await page.locator("#yaw").fill("20")
            await page.locator("#roll").fill("-7")
            assert await page.inner_text("#yaw-out") == "20°"
            assert await page.evaluate("vid2vidDemo.view") == {"yaw": 20, "pitch": 0, "roll": -7}
            await page.locator("#reset").click()
            assert await page.evaluate("vid2vidDemo.view") == {"yaw": 0, "pitch": 0, "roll": 0}
            assert await page.inner_text("#yaw-out") == "0°"
            assert await page.evaluate("vid2vidDemo.viewMessagesSent") == 0  # nobody to tell

            # A room with its own token: refused without it, admitted with it.
            await page.goto(f"{signal_server}/room/secret")
            await _wait(page, "vid2vidDemo.signaling === 'refused'")
            assert await page.inner_text("#st-signaling") == "refused: bad or missing token"
            await page.goto(f"{signal_server}/room/secret?token=abc")
            await _wait(page, "vid2vidDemo.signaling === 'open'")

            assert problems == []
            # Works offline: every resource comes from the server itself (or is inline).
            foreign = [u for u in requested if not u.startswith((signal_server, "data:"))]
            assert requested and foreign == []
            await browser.close()

    asyncio.run(asyncio.wait_for(body(), timeout=60))
