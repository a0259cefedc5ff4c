"""A fake clock for tests and lessons: each candidate advances it by a chosen duration.

Pass it as `timer=` and every timing is exactly what you chose. With durations that
are multiples of a power of two (1/256 s, ...) and the clock starting at 0, every
difference the harness takes is exact in binary floating point, so statistics can be
compared with numpy for equality."""

__all__ = ["FakeClock"]


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.calls = []          # (candidate name, duration) of every run, warm-ups included

    def __call__(self):
        return self.now

    def runner(self, name, durations):
        """A candidate function: its k-th call takes durations[k] seconds of fake time."""
        it = iter(durations)

        def run():
            d = next(it)
            self.calls.append((name, d))
            self.now += d
        run.__name__ = name
        return run
