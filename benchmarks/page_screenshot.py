"""A screenshot of the page `lmlineage serve` shows at `/`, taken in headless Chromium (Debian's
`chromium`, driven by Playwright): the model read on a prompt, one layer's and head's attention
chosen, one family of the tree opened. The README's picture:

    python benchmarks/page_screenshot.py SmolLM2-135M-Instruct.Q4_1.gguf --layer 3 --head 1 \\
        --out benchmarks/results/page_smollm2.png
"""

import argparse
import shutil

from playwright.sync_api import sync_playwright

from lmlineage.serve import load_served, serving


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="a checkpoint directory or a .gguf file")
    p.add_argument("--prompt", default="The capital of France is Paris, and the capital of Italy is")
    p.add_argument("--layer", type=int, default=0)
    p.add_argument("--head", type=int, default=0)
    p.add_argument("--family", default="llama", help="the tree node to open")
    p.add_argument("--out", default="page.png")
    args = p.parse_args()

    served = load_served(args.model)
    try:
        with serving(served) as url, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=shutil.which("chromium"))
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url.removesuffix("/v1") + "/")
            page.wait_for_selector("#tree .node")
            page.fill("#prompt", args.prompt)
            page.click("#run")
            page.wait_for_function("document.getElementById('status').textContent.endsWith(' tokens')", timeout=120000)
            page.select_option("#layer", str(args.layer))
            page.select_option("#head", str(args.head))
            page.wait_for_timeout(1500)  # the chosen map's request
            page.click(f"#tree .node[data-family='{args.family}']")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        served.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
