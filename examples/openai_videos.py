"""Code written for OpenAI's Videos API (Sora), run against `chronotope serve`.

Only `base_url` changes (and `size`: the bundled model makes 64x64 videos). Start a server,
then run this:

    chronotope serve --port 8000 &
    python examples/openai_videos.py --base-url http://127.0.0.1:8000/v1 --out videos/

See docs/openai-videos.md for what works the same and what differs.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from openai import OpenAI, omit


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-url", default="http://127.0.0.1:8000/v1")
    p.add_argument("--size", default="64x64", help="Sora: 1280x720; the bundled model: 64x64")
    p.add_argument("--seconds", default="4")
    p.add_argument("--out", type=Path, default=Path("videos"))
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    # the one change: base_url (the key is checked only when the server has one: --api-key)
    client = OpenAI(base_url=args.base_url, api_key=os.environ.get("CHRONOTOPE_API_KEY", "-"))

    # create and wait: the SDK's helper polls at the interval the server asks for
    video = client.videos.create_and_poll(
        model="sora-2", prompt="a red circle moves right", size=args.size, seconds=args.seconds
    )
    if video.status != "completed":
        raise SystemExit(f"{video.id}: {video.status}: {video.error}")
    for variant, ext in (("video", "mp4"), ("thumbnail", "webp"), ("spritesheet", "jpg")):
        content = client.videos.download_content(video.id, variant=variant)
        content.write_to_file(args.out / f"{video.id}.{ext}")
    print(f"created  {video.id}: {video.size}, {video.seconds} s")

    # a remix: the same video with another prompt
    remix = client.videos.remix(video.id, prompt="a blue circle moves right")
    remix = client.videos.poll(remix.id)
    client.videos.download_content(remix.id).write_to_file(args.out / f"{remix.id}.mp4")
    print(f"remixed  {remix.id} from {remix.remixed_from_video_id}")

    # an extension of a stored video (by id; an upload works too: video=open("a.mp4", "rb"))
    extended = client.videos.extend(
        video=omit,
        extra_body={"video": {"id": video.id}},
        prompt="a red circle moves right",
        seconds="2",
    )
    extended = client.videos.poll(extended.id)
    client.videos.download_content(extended.id).write_to_file(args.out / f"{extended.id}.mp4")
    print(f"extended {extended.id}: {extended.seconds} s")

    for v in client.videos.list(limit=10):
        print(f"listed   {v.id} {v.status} {v.prompt!r}")
    client.videos.delete(remix.id)
    print(f"deleted  {remix.id}")


if __name__ == "__main__":
    main()
