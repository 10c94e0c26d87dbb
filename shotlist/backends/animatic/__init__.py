"""The embedded offline backend ``animatic``: a previz clip for any shot, with no network, key or GPU.

Each shot becomes one still picture — the source image (img2vid), a storyboard card (txt2vid), the
references laid out on a card (ref2vid) or a title card — and a virtual camera moves over it. The
clip has the shot's exact duration, size and rate, an AAC track of silence, and the same bytes for
the same spec, so a whole cut can be timed and reviewed before any money is spent.

The modules, in the order a clip is made:

- ``fields``: what the animatic reads from a shot (label, title, caption, dialogue), as keyed params
- ``camera``: the camera's path over the picture, at sub-pixel positions
- ``images``, ``lettering``, ``icons``, ``cards``: the picture the camera looks at
- ``overlay``: the label and caption band fixed over every frame
- ``frames``: the frames as raw yuv420p, rendered ahead by worker threads
- ``encode``: the frames piped through x264 into an MP4
- ``render``: one spec into one clip (``render_animatic``)
- ``backend``: the ``AnimaticBackend`` jobs (submit, poll, fetch)

Nothing is imported here, so the engine reads ``fields`` without loading the drawing code.
"""
