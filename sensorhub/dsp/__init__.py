"""Per-participant streaming signal processing (see README "Concepts").

Every stage is an object that carries its state explicitly and is built in its constructor:
feeding a signal in chunks of any size gives exactly (bit for bit) the output of feeding it at
once, and offline analysis is the same objects fed whole arrays. The chain is::

    conditioning.Resampler   irregular radio timestamps -> uniform grid, gaps as breaks
    filters.SosFilter        causal low-pass -> gravity estimate
    inclination              calibration (up/forward in device axes) -> angles in degrees
    motion.MotionGate        strong dynamic acceleration flags
    episodes.LevelTracker    hysteresis / min duration / gap merge per threshold level
    detector.LeanDetector    the composition of all of the above for one participant
"""
