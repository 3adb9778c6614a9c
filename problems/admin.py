from django.contrib import admin

from problems.models import Problem, ProblemIncident, RecurrenceCandidate


class ProblemIncidentInline(admin.TabularInline):
    model = ProblemIncident
    raw_id_fields = ["ticket", "linked_by"]
    extra = 0


@admin.register(Problem)
class ProblemAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "status", "team", "detected", "created_at"]
    list_filter = ["status", "detected", "team"]
    search_fields = ["number", "title", "root_cause"]
    readonly_fields = ["number", "created_at", "updated_at", "resolved_at"]
    inlines = [ProblemIncidentInline]


@admin.register(RecurrenceCandidate)
class RecurrenceCandidateAdmin(admin.ModelAdmin):
    list_display = ["title", "size", "score", "state", "problem", "created_at"]
    list_filter = ["state"]
    filter_horizontal = ["tickets"]
