"""The timer every benchmark uses: the best of several rounds, so a round slowed by
another process on the machine does not move the figure."""
import timeit


def best_time(fn, number, rounds=5):
    """Seconds per call of fn: the fastest of `rounds` rounds of `number` calls, after one
    warm-up call (timeit: the garbage collector is off while a round runs)."""
    fn()
    return min(timeit.repeat(fn, number=number, repeat=rounds)) / number
