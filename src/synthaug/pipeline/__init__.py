"""One module per DVC stage: read inputs, call the library, write outputs atomically.

Stage scripts in ``stages/`` only load the validated params and call ``run`` of the
module of the same name; tests call them directly. Stage modules never import each
other: pipeline -> library -> core, never upward.
"""
