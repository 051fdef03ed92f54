// Progressive enhancement only: pages work without it. Marks the body so the design
// system's scripted components apply (an external file: the CSP allows no inline script).
document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? ' govuk-frontend-supported' : '');
