//! Display metadata (`display_metadata/display_metadata.ipynb`): each output's `metadata`
//! as nbclient writes it (an image's width and height, `_repr_mimebundle_`'s and
//! `publish_display_data`'s metadata), and `update_display_data` replacing the data and
//! the metadata of the output it targets, in an earlier cell.

use pykernel_runner::testing::test_python;

use crate::{cell_outputs, engines, imports, reference, run_fixture, validate};

#[tokio::test]
async fn display_metadata_matches_nbclient_and_ipykernel() {
    let Some(python) = test_python() else {
        return;
    };
    if !imports(&python, "IPython") {
        eprintln!("skipped: {} cannot import IPython", python.display());
        return;
    }
    let expected = cell_outputs(&reference("display_metadata")).join("\n");
    insta::assert_snapshot!(expected, @r#"
        cell 2: {"data":{"image/png":"iVBORw0KGgoAAQIDBAUGBwgJCgsMDQ4P","text/plain":"<IPython.core.display.Image object>"},"metadata":{"image/png":{"height":20,"width":80}},"output_type":"display_data"}
        cell 2: {"data":{"image/png":"iVBORw0KGgoAAQIDBAUGBwgJCgsMDQ4P","text/plain":"<IPython.core.display.Image object>"},"metadata":{},"output_type":"display_data"}
        cell 2: {"data":{"text/plain":"<DisplayHandle display_id=small>"},"execution_count":2,"metadata":{},"output_type":"execute_result"}
        cell 4: {"data":{"image/png":"iVBORw0KGgoAAQIDBAUGBwgJCgsMDQ4P","text/plain":"<IPython.core.display.Image object>"},"execution_count":4,"metadata":{"image/png":{"width":30}},"output_type":"execute_result"}
        cell 5: {"data":{"text/plain":"raw"},"metadata":{"text/plain":{"k":1}},"output_type":"display_data"}
        cell 5: {"data":{"text/plain":"published"},"metadata":{"text/plain":{"p":2}},"output_type":"display_data"}
        cell 6: {"data":{"text/plain":"sized"},"metadata":{"text/plain":{"isolated":true}},"output_type":"display_data"}
        cell 6: {"data":{"text/plain":"sized"},"execution_count":6,"metadata":{"text/plain":{"isolated":true}},"output_type":"execute_result"}
        "#);
    for engine in engines(&python) {
        let notebook = run_fixture(&python, "display_metadata", engine).await;
        assert_eq!(cell_outputs(&notebook).join("\n"), expected, "{engine:?}");
        validate(&python, &notebook);
    }
}
