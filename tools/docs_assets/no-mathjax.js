/* The site loads no MathJax (it would come from a CDN): TeX is rendered as MathML when the site is built. */
