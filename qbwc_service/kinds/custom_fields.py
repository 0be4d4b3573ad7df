"""Custom-field jobs: after a document was created, its Fusion custom fields are written to QuickBooks'
custom fields of that document (one DataExtAdd each)."""

from __future__ import annotations

from mappings import custom_fields as custom_field_mapping
from qbwc_service.db.models import Job
from qbwc_service.kinds.base import BuildContext, Built, Progress, RequestKind


class CustomFieldsKind(RequestKind[Progress]):
    name = "custom_fields"

    def build(self, job: Job, ctx: BuildContext) -> Built:
        payload = job.payload
        return Built(custom_field_mapping.build_data_ext_adds(
            payload["txn_type"], payload["txn_id"], [tuple(v) for v in payload["values"]]))


CUSTOM_FIELDS = CustomFieldsKind()
KINDS = (CUSTOM_FIELDS,)
