"""vid2vid.codec.commands: the offline commands, thin CLIs over the codec library.

``vid2vid-encode`` and ``vid2vid-decode`` (a clip to a ``.v2v`` file and back, over
:mod:`vid2vid.codec.stream`), ``vid2vid-reenact`` (a portrait animated by a driving video),
``vid2vid-convert`` (a public checkpoint into vid2vid's format) and ``vid2vid-model-bench``.
Nothing in the library imports from here.
"""
