// Translations for the modules: `gettext`, `ngettext` and `interpolate` from Django's
// JavaScript catalog (spaces_project/languages.py), which base.html loads as a deferred script
// before any module, for every language but English. Without it (an English page, or the
// catalog failed to load) the strings stay as written, in English, with English plurals.

const catalog = globalThis.django;

/** The translation of `text`. */
export function gettext(text) {
  return catalog ? catalog.gettext(text) : text;
}

/** `singular` or `plural`, as `count` asks in the page's language. */
export function ngettext(singular, plural, count) {
  if (catalog) return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

/** `template` with `%(name)s` filled from `values`: interpolate(gettext("Hi %(name)s"), {name}). */
export function interpolate(template, values) {
  return template.replace(/%\((\w+)\)s/g, (_, key) => String(values[key] ?? ""));
}
