"""The "Generate code" page of data stores and entities: pick a target, preview the files, download a ZIP."""

from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.safestring import mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name

from catalog.admin.schema import _object_or_404, _page
from catalog.codegen.base import CodegenError
from catalog.codegen.service import TARGETS, codegen_generate, codegen_zip

__all__ = ["CodegenMixin"]

OPTION_FIELDS = {"jpa": [("namespace", ["jakarta", "javax"])]}


class CodegenMixin:
    """Adds `<id>/code/` to an admin whose `ddl_scope(obj)` names the data store and entities it covers."""

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_code"
        code = path("<path:object_id>/code/", self.admin_site.admin_view(self.code_view), name=name)
        return [code, *super().get_urls()]

    def code_view(self, request, object_id):
        obj = _object_or_404(self, request, object_id)
        if not self.has_view_permission(request, obj):
            raise PermissionDenied
        store, entity_ids = self.ddl_scope(obj)
        entity_names = None if entity_ids is None else [obj.name]
        target = request.GET.get("target") or "sqlalchemy"
        options = {
            key: request.GET[key] for key, _values in OPTION_FIELDS.get(target, []) if request.GET.get(key)
        }
        options["generate_keys"] = bool(request.GET.get("generate_keys"))
        files, error = [], ""
        try:
            files = codegen_generate(
                datastore=store, target=target, entity_names=entity_names, options=options
            )
        except CodegenError as exc:
            error = exc.message
        if files and request.GET.get("download"):
            stem = store.name if entity_names is None else f"{store.name}_{obj.name}"
            response = HttpResponse(codegen_zip(files), content_type="application/zip")
            response["Content-Disposition"] = f'attachment; filename="{stem}_{target}.zip"'
            return response
        language = TARGETS.get(target, ("", "", "text"))[2]
        formatter = HtmlFormatter(cssclass="ddl")
        previews = [
            (f.path, mark_safe(highlight(f.content, get_lexer_by_name(language), formatter))) for f in files
        ]
        context = _page(
            self.admin_site,
            request,
            f"Generate code for {self.opts.verbose_name} {obj.name}",
            opts=self.opts,
            original=obj,
            targets=[(key, value[1]) for key, value in TARGETS.items()],
            target=target,
            previews=previews,
            generate_keys=options["generate_keys"],
            option_fields=[
                (key, values, options.get(key, values[0])) for key, values in OPTION_FIELDS.get(target, [])
            ],
            error=error,
            query=request.GET.urlencode(),
        )
        return TemplateResponse(request, "admin/catalog/codegen.html", context)
