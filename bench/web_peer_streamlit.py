"""The peer of bench/web.py: the annotated frames shown live in a streamlit app.

Stream Infer's users watch their pipeline in a streamlit page; this is the minimal fair version
of it, the loop streamlit's docs suggest for live images: one ``st.empty()`` placeholder whose
``.image(...)`` is replaced every frame. The frames come from the same decode (vistream.Reader,
bgr24) and the same pipeline + frame-code annotator as the served vistream rows, paced to the
clip's rate like a realtime Player: a frame already more than one frame interval late is skipped
(counted), never queued.

Run by bench/web.py (``streamlit run bench/web_peer_streamlit.py`` with PYTHONPATH=bench and
WEBBENCH_CLIP, WEBBENCH_HANDOVERS, WEBBENCH_SECONDS in the environment). Every frame handed to
streamlit is logged as "index time.time()" to WEBBENCH_HANDOVERS, every skipped one as "dropped index".
"""
from __future__ import annotations

import os
import time

import streamlit as st

import vistream as vs
from web import CodedPipeline

clip = os.environ["WEBBENCH_CLIP"]
seconds = float(os.environ.get("WEBBENCH_SECONDS", "30"))

st.set_page_config(page_title="vistream in streamlit", layout="wide")
placeholder = st.empty()
coded = CodedPipeline()
with open(os.environ["WEBBENCH_HANDOVERS"], "a", buffering=1) as log, vs.Reader(clip, format="bgr24") as reader:
    interval = 1.0 / reader.info.fps
    started = time.monotonic()
    first_time = None
    for frame in reader:
        if first_time is None:
            first_time = frame.time
        due = started + frame.time - first_time
        now = time.monotonic()
        if now > due + interval:
            log.write(f"dropped {frame.index}\n")
            continue
        if due > now:
            time.sleep(due - now)
        coded(frame)
        index, handed_at = coded.code.handovers[-1]
        log.write(f"{index} {handed_at:.6f}\n")
        placeholder.image(frame.array, channels="BGR")
        if time.monotonic() - started > seconds:
            break
