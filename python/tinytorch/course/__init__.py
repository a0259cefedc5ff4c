"""The course machinery: the requirements table, student copies, graders, and
student code swapped into the engine. See docs/course.md."""
from .requirements import MODULES, MILESTONES, module, milestone
from .overrides import use_student

__all__ = ["MODULES", "MILESTONES", "module", "milestone", "use_student"]
